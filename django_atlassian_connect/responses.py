"""HTTP answers for errors: refused Connect requests and Forge invocations,
failed outbound calls, and the views' own refusals.

Every error answer has one body, ``{"detail", "code", "hint"}``
(:func:`error_body`; ``EXPOSE_HINTS`` off drops ``hint``), built once for any
:class:`~django_atlassian_connect.exceptions.ConnectError`
(:func:`error_response`). Connect tokens are challenged with
``JWT realm="<app key>"``, Forge Invocation Tokens with ``Bearer realm="<app key>"``
(the scheme Forge sends them in). A failed outbound call gets the status of
:func:`client_error_status`; DRF views get the same answers by setting
``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` to :func:`exception_handler`.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import JsonResponse
from rest_framework import views as drf_views
from rest_framework.response import Response

from .codes import API_CODES, CODES
from .conf import connect_settings
from .exceptions import RETRY_AFTER as RETRY_AFTER  # re-exported
from .exceptions import ConnectAuthError, ConnectClientError, ConnectError, ForgeAuthError


def _quoted(value: str) -> str:
    # Header values must be latin-1; quotes and backslashes would end the string.
    cleaned = value.replace("\\", "").replace('"', "'").replace("\r", " ").replace("\n", " ")
    return cleaned.encode("latin-1", "replace").decode("latin-1")


def www_authenticate(error: ConnectAuthError | None = None, *, scheme: str = "JWT") -> str:
    """``JWT realm="<app key>"``, with the error code and hint when known.

    ``scheme="Bearer"`` is the challenge of a Forge endpoint
    (:func:`bearer_challenge`).
    """
    realm = connect_settings.get("APP_KEY") or "atlassian-connect"
    value = f'{scheme} realm="{_quoted(realm)}"'
    if error is not None:
        value += f', error="{error.code}"'
        if connect_settings.EXPOSE_HINTS:
            value += f', error_description="{_quoted(error.hint)}"'
    return value


def error_body(error: ConnectError) -> dict[str, str]:
    """``{"detail", "code", "hint"}``; without ``hint`` when ``EXPOSE_HINTS`` is off."""
    body = {"detail": error.detail, "code": error.code}
    if connect_settings.EXPOSE_HINTS and error.hint:
        body["hint"] = error.hint
    return body


def bearer_challenge(error: ConnectAuthError | None = None) -> str:
    """``Bearer realm="<app key>", error="<code>"``: a refused Forge invocation."""
    return www_authenticate(error, scheme="Bearer")


#: Outbound codes that mean "nothing was sent: this user or installation has no
#: usable token; link again, or wait for the next invocation" (409).
RELINK_CODES = frozenset(
    {
        "oauth_grant_revoked",
        "oauth_grant_expired",
        "oauth_not_linked",
        "forge_token_expired",
        "forge_user_token_unavailable",
    }
)
#: Outbound codes that mean "a service we depend on is not answering; retry" (503).
UNAVAILABLE_CODES = frozenset(
    {
        "network_error",
        "rate_limited_backoff",
        "api_rate_limited",
        "oauth_token_failed",
        "oauth_not_configured",
        "service_account_unavailable",
        "authorization_server_unavailable",
        "temporarily_unavailable",
        "server_error",
    }
)


def client_error_status(exc: ConnectClientError) -> int:
    """The status a view answers a failed outbound call with.

    409: no usable token, nothing was sent (:data:`RELINK_CODES`); 404: the
    user's link does not cover this site (``oauth_site_not_linked``); 503: the
    product or an authorization server could not be reached, was rate-limited
    or is backing off (:data:`UNAVAILABLE_CODES`); a code registered with a
    status of its own answers it (``forge_installation_uninstalled``,
    ``forge_installation_missing``: 409); 502 for the rest, the product's
    other errors included. Never 401: the caller's own credentials
    were fine.
    """
    if exc.code in RELINK_CODES:
        return 409
    if exc.code == "oauth_site_not_linked":
        return 404
    if exc.code in UNAVAILABLE_CODES:
        return 503
    # A refusal registered with a status of its own (forge_installation_uninstalled: 409);
    # api_* statuses are the product's, answered as 502 above all else.
    own = CODES[exc.code].status if exc.code in CODES and exc.code not in API_CODES else 0
    return own or 502


def retry_after(error: ConnectError | None = None) -> int:
    """Seconds for ``Retry-After``: what is left of the error's ``wait``, else :data:`RETRY_AFTER`."""
    wait = getattr(error, "wait", None)
    if isinstance(wait, int | float) and wait > 0:
        return max(1, math.ceil(wait))
    return RETRY_AFTER


def _status_of(error: ConnectError) -> int:
    if isinstance(error, ConnectClientError):
        return client_error_status(error)
    return error.status_code or 500


def error_response(error: ConnectError, status: int | None = None, **extra: Any) -> JsonResponse:
    """``{"detail", "code", "hint"}`` (plus ``extra``) for any :class:`ConnectError`.

    ``status`` defaults to :func:`client_error_status` for a failed outbound
    call, otherwise to the code's registered status. A 503 carries
    ``Retry-After`` (:func:`retry_after`: an error's ``wait`` when it has one).
    ``extra`` adds fields, e.g. ``productStatus=exc.status``; it never replaces
    ``detail``, ``code`` or ``hint``.
    """
    status = _status_of(error) if status is None else status
    body: dict[str, Any] = {**extra, **error_body(error)}
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = str(retry_after(error))
    return response


def refusal_response(error: ConnectAuthError, *, scheme: str = "JWT") -> JsonResponse:
    """401 (or the code's status) with ``{"detail", "code", "hint"}``.

    401 carries ``WWW-Authenticate`` (``scheme`` ``JWT`` for Connect, ``Bearer``
    for Forge), 503 ``Retry-After``.
    """
    response = error_response(error, error.status_code)
    if error.status_code == 401:
        response["WWW-Authenticate"] = www_authenticate(error, scheme=scheme)
    return response


def forge_refusal_response(error: ConnectAuthError) -> JsonResponse:
    """A refused Forge invocation: 401 with a ``Bearer`` challenge, or 503 ``Retry-After``.

    Forge reads a 401 as "the FIT failed validation" and a 503 as an outage it
    retries events through; any other status is a failed invocation.
    """
    return refusal_response(error, scheme="Bearer")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | JsonResponse | None:
    """DRF's exception handler, plus this package's errors.

    Set ``REST_FRAMEWORK = {"EXCEPTION_HANDLER":
    "django_atlassian_connect.responses.exception_handler"}`` and a view may
    let a failed outbound call (:class:`ConnectClientError`) or a refusal
    (:class:`ConnectAuthError`) propagate: it is answered as
    :func:`error_response` (with ``productStatus`` for the product's error) /
    :func:`refusal_response` would, and the
    transaction of an atomic request is rolled back as DRF does for its own
    errors. Anything else goes to DRF's default handler.
    """
    if isinstance(exc, ConnectClientError):
        drf_views.set_rollback()
        extra = {"productStatus": exc.status} if exc.code in API_CODES else {}
        return error_response(exc, **extra)
    if isinstance(exc, ConnectAuthError):
        drf_views.set_rollback()
        scheme = "Bearer" if isinstance(exc, ForgeAuthError) else "JWT"
        return refusal_response(exc, scheme=scheme)
    return drf_views.exception_handler(exc, context)
