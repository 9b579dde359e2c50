"""The example app as a Forge Remote: what a UI module's ``invokeRemote`` calls.

- ``GET /forge/me`` (DRF, :class:`ForgeInvocationAuthentication`): who is calling,
  and the Connect tenant of the same site, if linked;
- ``GET /forge/myself?as=app|user`` (plain view, ``@forge_invocation_required``):
  Jira's ``/rest/api/3/myself`` through the API gateway, as the app (the
  newest app system token) or as the user in session (this call's
  ``x-forge-oauth-user`` token).

Errors of the outbound call are answered as JSON ``{"detail", "code", "hint"}``,
never a 500, and never a 401 (Forge reads a 401 as "your FIT was refused"):

- 409: no usable token, nothing was sent (``forge_token_expired``,
  ``forge_user_token_unavailable``): the next invocation or hourly trigger
  brings one, or there is no user in session;
- 503 with ``Retry-After``: the product rate-limited us (or its 429 backoff,
  ``rate_limited_backoff``, still runs: ``Retry-After`` is what is left of it)
  or could not be reached;
- 502: the product answered with another error (its status in ``productStatus``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import requests
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ForgeInvocationAuthentication,
)
from django_atlassian_connect.decorators import forge_invocation_required
from django_atlassian_connect.exceptions import (
    ConnectAPIError,
    ConnectClientError,
    RateLimitBackoffError,
)
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.permissions import IsForgeInvocation

logger = logging.getLogger("connect_demo")

#: Client error codes that mean "nothing was sent: no usable token" (409).
NO_TOKEN_CODES = frozenset({"forge_token_expired", "forge_user_token_unavailable"})
RETRY_AFTER = "30"


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


def _error(
    status: int,
    code: str,
    detail: str,
    hint: str = "",
    *,
    retry_after: str = RETRY_AFTER,
    **extra: Any,
) -> JsonResponse:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if hint:
        body["hint"] = hint
    body.update(extra)
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = retry_after
    return response


def _client_error(exc: ConnectClientError) -> JsonResponse:
    if isinstance(exc, RateLimitBackoffError):
        # Nothing was sent: the site's 429 backoff runs for every process; say until when.
        return _error(
            503, exc.code, exc.detail, exc.hint, retry_after=str(max(1, math.ceil(exc.wait)))
        )
    if isinstance(exc, ConnectAPIError):
        if exc.code == "api_rate_limited":
            return _error(503, exc.code, exc.detail, exc.hint, productStatus=exc.status_code)
        return _error(502, exc.code, exc.detail, exc.hint, productStatus=exc.status_code)
    status = 409 if exc.code in NO_TOKEN_CODES else 502
    return _error(status, exc.code, exc.detail, exc.hint)


@require_GET
@forge_invocation_required
def forge_myself(request: HttpRequest) -> JsonResponse:
    """``GET /forge/myself?as=app|user``: the product's ``myself`` as the app or the user."""
    context: ForgeContext = request.forge  # type: ignore[attr-defined]
    mode = request.GET.get("as", "app")
    if mode not in ("app", "user"):
        return _error(400, "parameter_invalid", f"as={mode[:20]!r}: use as=app or as=user.")
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
    except ConnectClientError as exc:
        logger.warning("forge /myself as %s failed: %s (%s)", mode, exc.code, exc.detail)
        return _client_error(exc)
    except requests.RequestException as exc:
        logger.warning("forge /myself as %s: gateway unreachable (%s)", mode, type(exc).__name__)
        return _error(
            503,
            "api_error",
            f"The API gateway could not be reached ({type(exc).__name__}).",
            "Retry in a moment; check outbound access to the gateway.",
        )
    try:
        body = response.json()
    except ValueError:
        return _error(502, "api_error", "The product's answer is not JSON.")
    return JsonResponse(body, status=200, safe=False)
