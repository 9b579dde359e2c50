"""Who is calling, seen from Connect (context JWT) and from Forge (FIT)."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ConnectContextJWTAuthentication,
    ForgeInvocationAuthentication,
)


class ConnectWhoAmI(APIView):
    authentication_classes = [ConnectContextJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {"clientKey": request.auth.client_key, "accountId": request.user.account_id}
        )


class ForgeWhoAmI(APIView):
    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        tenant = request.user.installation.tenant
        return Response(
            {
                "installationId": request.auth.installation_id,
                "clientKey": tenant.client_key if tenant is not None else None,
                "accountId": request.user.account_id,
            }
        )
