"""Views the tests authenticate, in each style the package supports."""

from django.http import HttpRequest, JsonResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ConnectContextJWTAuthentication,
    ConnectJWTAuthentication,
)
from django_atlassian_connect.decorators import connect_jwt_required
from django_atlassian_connect.permissions import IsConnectUser


def _describe(auth) -> dict:
    return {
        "clientKey": auth.tenant.client_key,
        "accountId": auth.account_id,
        "retired": auth.signed_with_retired_secret,
    }


@connect_jwt_required
def page(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse(_describe(request.connect))


@connect_jwt_required
async def async_page(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"async": True, **_describe(request.connect)})


@connect_jwt_required(context=True)
async def async_context(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"async": True, **_describe(request.connect)})


@connect_jwt_required(context=True)
def context_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(request.connect))


@connect_jwt_required
def webhook(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"received": request.method, **_describe(request.connect)})


class DrfPage(APIView):
    authentication_classes = [ConnectJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(_describe(request.auth))

    def post(self, request):
        return Response({"data": request.data, **_describe(request.auth)})


class DrfContext(APIView):
    authentication_classes = [ConnectContextJWTAuthentication]
    permission_classes = [IsConnectUser]

    def get(self, request):
        return Response(_describe(request.auth))


class DrfMixed(APIView):
    """Session users or Connect tokens: a non-Connect request falls through."""

    authentication_classes = [ConnectJWTAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"user": str(request.user)})
