"""HTTP answers for refused Connect requests and Forge invocations.

Connect tokens are challenged with ``JWT realm="<app key>"``, Forge
Invocation Tokens with ``Bearer realm="<app key>"`` (the scheme Forge sends
them in). The body is the same: ``{"detail", "code", "hint"}``.
"""

from __future__ import annotations

from django.http import JsonResponse

from .conf import connect_settings
from .exceptions import ConnectAuthError


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


def error_body(error: ConnectAuthError) -> dict[str, str]:
    body = {"detail": error.detail, "code": error.code}
    if connect_settings.EXPOSE_HINTS:
        body["hint"] = error.hint
    return body


def bearer_challenge(error: ConnectAuthError | None = None) -> str:
    """``Bearer realm="<app key>", error="<code>"``: a refused Forge invocation."""
    return www_authenticate(error, scheme="Bearer")


#: Seconds a 503 (``key_unavailable``, ``database_unavailable``) asks the caller to wait.
RETRY_AFTER = 30


def refusal_response(error: ConnectAuthError, *, scheme: str = "JWT") -> JsonResponse:
    """401 (or the code's status) with ``{"detail", "code", "hint"}``.

    401 carries ``WWW-Authenticate`` (``scheme`` ``JWT`` for Connect, ``Bearer``
    for Forge), 503 ``Retry-After``.
    """
    response = JsonResponse(error_body(error), status=error.status_code)
    if error.status_code == 401:
        response["WWW-Authenticate"] = www_authenticate(error, scheme=scheme)
    elif error.status_code == 503:
        response["Retry-After"] = str(RETRY_AFTER)
    return response


def forge_refusal_response(error: ConnectAuthError) -> JsonResponse:
    """A refused Forge invocation: 401 with a ``Bearer`` challenge, or 503 ``Retry-After``.

    Forge reads a 401 as "the FIT failed validation" and a 503 as an outage it
    retries events through; any other status is a failed invocation.
    """
    return refusal_response(error, scheme="Bearer")
