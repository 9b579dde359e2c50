"""The URLconf of the Forge view tests: the views under test (DRF, the decorator), routed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ConnectJWTAuthentication,
    ForgeInvocationAuthentication,
)
from django_atlassian_connect.decorators import forge_invocation_required
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.permissions import IsForgeInvocation

# -- views under test ----------------------------------------------------------------------------


class ForgeMe(APIView):
    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsForgeInvocation]

    def get(self, request):
        context: ForgeContext = request.auth
        tenant = request.user.installation.tenant
        return Response(
            {
                "installationId": context.installation_id,
                "cloudId": context.cloud_id,
                "accountId": request.user.account_id,
                "isApp": request.user.is_app,
                "clientKey": tenant.client_key if tenant else None,
                "environmentType": context.environment_type,
                "sameInstallation": request._request.forge_installation.pk
                == request.user.installation.pk,
            }
        )

    def post(self, request):
        return Response({"data": request.data, "accountId": request.user.account_id})


class EitherToken(APIView):
    """Connect JWTs or Forge FITs: each class leaves the other's scheme alone."""

    authentication_classes = [ConnectJWTAuthentication, ForgeInvocationAuthentication]
    permission_classes = [IsForgeInvocation]

    def get(self, request):
        return Response({"user": repr(request.user)})


def _describe(request: HttpRequest, **extra: Any) -> JsonResponse:
    return JsonResponse(
        {
            "installationId": request.forge.installation_id,
            "accountId": request.forge.principal,
            "row": request.forge_installation.installation_id,
            **extra,
        }
    )


@forge_invocation_required
def plain(request: HttpRequest) -> JsonResponse:
    return _describe(request, method=request.method)


@forge_invocation_required
async def plain_async(request: HttpRequest) -> JsonResponse:
    return _describe(request, is_async=True)


@require_GET
@forge_invocation_required
def stacked_outside(request: HttpRequest) -> JsonResponse:
    return _describe(request)


@forge_invocation_required
@never_cache
@require_GET
def stacked_inside(request: HttpRequest) -> JsonResponse:
    return _describe(request)


urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
    path("forge/me", ForgeMe.as_view()),
    path("forge/either", EitherToken.as_view()),
    path("forge/plain", plain),
    path("forge/async", plain_async),
    path("forge/stacked-outside", stacked_outside),
    path("forge/stacked-inside", stacked_inside),
]
