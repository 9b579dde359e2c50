"""The example app as a Forge Remote: what a UI module's ``invokeRemote`` calls.

- ``GET /forge/me`` (DRF, :class:`ForgeInvocationAuthentication`): who is calling,
  and the Connect tenant of the same site, if linked;
- ``GET /forge/myself?as=app|user`` (plain view, ``@forge_invocation_required``):
  Jira's ``/rest/api/3/myself`` through the API gateway, as the app (the
  newest app system token) or as the user in session (this call's
  ``x-forge-oauth-user`` token);
- ``GET /forge/licensed`` (DRF, :class:`IsForgeLicensed`): ``{"licensed": true}``
  for a site whose licence is active; otherwise a 403 with a code
  (``forge_license_inactive``, ``forge_license_missing``...), never a 401.

Errors of the outbound call are answered as JSON ``{"detail", "code", "hint"}``,
never a 500, and never a 401 (Forge reads a 401 as "your FIT was refused"):

- 409: no usable token, nothing was sent (``forge_token_expired``,
  ``forge_user_token_unavailable``): the next invocation or hourly trigger
  brings one, or there is no user in session; or the installation was
  uninstalled (``forge_installation_uninstalled``, the gateway not called);
- 503 with ``Retry-After``: the product rate-limited us (or its 429 backoff,
  ``rate_limited_backoff``, still runs: ``Retry-After`` is what is left of it)
  or could not be reached (``network_error``);
- 502: the product answered with another error (its status in ``productStatus``).

The library's ``responses.error_response`` builds these answers, with the
status of ``responses.client_error_status``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ForgeInvocationAuthentication,
)
from django_atlassian_connect.decorators import forge_invocation_required
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.permissions import IsForgeInvocation, IsForgeLicensed
from django_atlassian_connect.responses import error_response

logger = logging.getLogger("connect_demo")


class ForgeMeView(APIView):
    """``GET /forge/me``: the invocation's ids and the linked Connect tenant's clientKey."""

    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsForgeInvocation]

    def get(self, request: Any) -> Response:
        context: ForgeContext = request.auth
        tenant = request.user.installation.tenant
        return Response(
            {
                "installationId": context.installation_id,
                "cloudId": context.cloud_id,
                "accountId": context.principal,
                "clientKey": tenant.client_key if tenant is not None else None,
                "environmentType": context.environment_type,
            }
        )


class ForgeLicensedView(APIView):
    """``GET /forge/licensed``: 200 ``{"licensed": true}`` only for a licensed site.

    ``IsForgeLicensed`` refuses with 403 and a code (the FIT itself was fine).
    """

    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsForgeLicensed]

    def get(self, request: Any) -> Response:
        return Response({"licensed": True})


def _client_error(exc: ConnectClientError) -> JsonResponse:
    # 409 no token / 503 + Retry-After unreachable or backing off / 502 the product's error.
    if isinstance(exc, ConnectAPIError):
        return error_response(exc, productStatus=exc.status_code)
    return error_response(exc)


@require_GET
@forge_invocation_required
def forge_myself(request: HttpRequest) -> JsonResponse:
    """``GET /forge/myself?as=app|user``: the product's ``myself`` as the app or the user."""
    context: ForgeContext = request.forge  # type: ignore[attr-defined]
    mode = request.GET.get("as", "app")
    if mode not in ("app", "user"):
        return JsonResponse(
            {"detail": f"as={mode[:20]!r}: use as=app or as=user.", "code": "parameter_invalid"},
            status=400,
        )
    client = ForgeClient(request.forge_installation, invocation=context)  # type: ignore[attr-defined]
    try:
        if mode == "user":
            if context.principal is None or context.user_token is None:
                # This request's own user token, as the contract says: no silent
                # fallback to an offline token for another kind of call.
                raise ConnectClientError(
                    "forge_user_token_unavailable",
                    "This invocation carried no x-forge-oauth-user token"
                    + (" and no user in session." if context.principal is None else ".")
                    + " Enable auth.appUserToken on the endpoint the UI module calls.",
                    installation=request.forge_installation,  # type: ignore[attr-defined]
                )
            session = client.as_user(context.principal)
        else:
            session = client.as_app()
        response = session.get("/rest/api/3/myself")
    except ConnectClientError as exc:  # network failures included (network_error)
        logger.warning("forge /myself as %s failed: %s (%s)", mode, exc.code, exc.detail)
        return _client_error(exc)
    try:
        body = response.json()
    except ValueError:
        return JsonResponse(
            {"detail": "The product's answer is not JSON.", "code": "api_error"}, status=502
        )
    return JsonResponse(body, status=200, safe=False)
