"""Atlassian's authorization server: the authorize URL, code exchange and refresh.

::

    url = authorize_url(state)                      # send the user's browser there
    tokens = exchange_code(code, callback_url())    # on the callback
    tokens = refresh_tokens(refresh_token)          # rotates: keep tokens.refresh_token

Both token requests are ``POST {OAUTH_AUTH_URL}/oauth/token`` with a JSON
body carrying ``client_id`` and ``client_secret``. Failures raise
``ConnectClientError("oauth_token_failed")`` whose ``oauth_error`` is the
server's error string (``invalid_grant``, ``invalid_client``, ...) or
``None`` (no answer), and ``status`` the HTTP status. The error carries no
response object: its request body holds the client secret and the refresh
token, and errors travel (logs, Celery results). Nothing here touches the
database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import new_session

__all__ = [
    "AUDIENCE",
    "OFFLINE_ACCESS",
    "TokenSet",
    "authorize_url",
    "callback_url",
    "client_credentials",
    "exchange_code",
    "refresh_tokens",
    "requested_scopes",
]

logger = logging.getLogger("django_atlassian_connect")

AUDIENCE = "api.atlassian.com"
OFFLINE_ACCESS = "offline_access"
#: When the token endpoint gives no expires_in: Atlassian's access tokens live 1 hour.
DEFAULT_EXPIRES_IN = 3600


@dataclass(frozen=True)
class TokenSet:
    """A token response. The tokens are kept out of ``repr()``."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""


def client_credentials() -> tuple[str, str]:
    """``(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET)``, or ``oauth_not_configured``."""
    client_id = connect_settings.OAUTH_CLIENT_ID
    secret = connect_settings.OAUTH_CLIENT_SECRET
    if not client_id or not secret:
        missing = [
            name
            for name, value in (("OAUTH_CLIENT_ID", client_id), ("OAUTH_CLIENT_SECRET", secret))
            if not value
        ]
        raise ConnectClientError(
            "oauth_not_configured",
            f"OAuth 2.0 (3LO) is not configured: {' and '.join(missing)} not set; nothing was sent.",
        )
    return str(client_id), str(secret)


def auth_url() -> str:
    return str(connect_settings.OAUTH_AUTH_URL).rstrip("/")


def callback_url() -> str:
    """The ``redirect_uri``: ``OAUTH_CALLBACK_URL``, else ``BASE_URL`` + ``/oauth/callback``."""
    configured = connect_settings.OAUTH_CALLBACK_URL
    return str(configured) if configured else f"{connect_settings.BASE_URL}/oauth/callback"


def requested_scopes(scopes: Iterable[str] | str | None = None) -> list[str]:
    """``OAUTH_SCOPES`` (or ``scopes``) in order, without duplicates, with ``offline_access``."""
    if scopes is None:
        scopes = connect_settings.OAUTH_SCOPES
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    found = list(dict.fromkeys(str(s).strip() for s in items if str(s).strip()))
    return found if OFFLINE_ACCESS in found else [*found, OFFLINE_ACCESS]


def authorize_url(
    state: str, *, redirect_uri: str | None = None, scopes: Iterable[str] | str | None = None
) -> str:
    """Where the user's browser goes to consent: ``{OAUTH_AUTH_URL}/authorize?...``."""
    client_id, _ = client_credentials()
    params = {
        "audience": AUDIENCE,
        "client_id": client_id,
        "scope": " ".join(requested_scopes(scopes)),
        "redirect_uri": redirect_uri or callback_url(),
        "state": state,
        "response_type": "code",
        "prompt": "consent",
    }
    return f"{auth_url()}/authorize?{urlencode(params, quote_via=quote)}"


def exchange_code(code: str, redirect_uri: str) -> TokenSet:
    """The ``authorization_code`` grant. A code is single-use: the request is not retried
    once sent (only a connection that failed before sending is)."""
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return _request(body, what="exchange the authorization code", retry=False)


def refresh_tokens(refresh_token: str) -> TokenSet:
    """The ``refresh_token`` grant. The answer's ``refresh_token`` replaces the one sent
    (rotation). Retried on 429/5xx: a repeat within seconds is inside Atlassian's
    10-minute reuse window, so it gets a new pair rather than revoking the grant."""
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _request(body, what="refresh the access token", retry=True)


def _request(body: dict[str, str], *, what: str, retry: bool) -> TokenSet:
    client_id, secret = client_credentials()
    url = auth_url() + "/oauth/token"
    payload = {**body, "client_id": client_id, "client_secret": secret}
    context: dict[str, Any] = {"method": "POST", "url": url, "grant_type": body["grant_type"]}
    # Not retried: only GET is listed (an empty list would mean every method to urllib3).
    session = new_session(retry_methods={"POST"} if retry else {"GET"})
    try:
        with session:
            response = session.post(url, json=payload, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ConnectClientError(
            "oauth_token_failed",
            f"Could not {what}: the request to {url} failed ({type(exc).__name__}).",
            oauth_error=None,
            **context,
        ) from None  # the chained exception would carry the request body
    try:
        answer = response.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    if response.status_code != 200:
        error = answer.get("error")
        error = str(error)[:100] if error else None
        description = str(answer.get("error_description") or "")[:200]
        said = (error or "no error named") + (f" ({description})" if description else "")
        raise ConnectClientError(
            "oauth_token_failed",
            f"Could not {what}: {url} answered {response.status_code}: {said}.",
            oauth_error=error,
            oauth_error_description=description or None,
            status=response.status_code,
            **context,
        )
    access_token, expires_in = answer.get("access_token"), answer.get("expires_in")
    refresh_token = answer.get("refresh_token")
    if not isinstance(access_token, str) or not access_token:
        raise ConnectClientError(
            "oauth_token_failed",
            f"Could not {what}: the answer of {url} has no access_token.",
            oauth_error=None,
            status=response.status_code,
            **context,
        )
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return TokenSet(
        access_token=access_token,
        expires_in=int(expires_in),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        scope=str(answer.get("scope") or ""),
    )
