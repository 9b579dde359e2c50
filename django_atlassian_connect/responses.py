"""HTTP answers for refused Connect requests."""

from __future__ import annotations

from django.http import JsonResponse

from .conf import connect_settings
from .exceptions import ConnectAuthError


def _quoted(value: str) -> str:
    # Header values must be latin-1; quotes and backslashes would end the string.
    cleaned = value.replace("\\", "").replace('"', "'").replace("\r", " ").replace("\n", " ")
    return cleaned.encode("latin-1", "replace").decode("latin-1")


def www_authenticate(error: ConnectAuthError | None = None) -> str:
    """``JWT realm="<app key>"``, with the error code and hint when known."""
    realm = connect_settings.get("APP_KEY") or "atlassian-connect"
    value = f'JWT realm="{_quoted(realm)}"'
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


def refusal_response(error: ConnectAuthError) -> JsonResponse:
    """401 (or the code's status) with ``{"detail", "code", "hint"}``."""
    response = JsonResponse(error_body(error), status=error.status_code)
    if error.status_code == 401:
        response["WWW-Authenticate"] = www_authenticate(error)
    elif error.status_code == 503:
        response["Retry-After"] = "30"
    return response
