"""Atlassian's authorization server: the authorize URL, code exchange and refresh.

::

    url = authorize_url(state)                      # send the user's browser there
    tokens = exchange_code(code, callback_url())    # on the callback
    tokens = refresh_tokens(refresh_token)          # rotates: keep tokens.refresh_token

Both token requests are ``POST {OAUTH_AUTH_URL}/oauth/token`` with a JSON
body carrying ``client_id`` and ``client_secret``, sent by
:func:`~django_atlassian_connect.http.token_endpoint.post_token_request` (its
rules for the answer, ``expires_in`` and secret hygiene apply). Failures raise
``ConnectClientError("oauth_token_failed")`` whose ``oauth_error`` is the
server's error string (``invalid_grant``, ``invalid_client``, ...) or
``None`` (no answer), and ``status`` the HTTP status. Nothing the error
carries holds the client secret or the refresh token (errors travel: logs,
Celery results). Nothing here touches the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import token_endpoint
from ..http.token_endpoint import TokenCodes, post_token_request

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
#: Deprecated alias: ``expires_in`` when the answer gives none (one rule for every door).
DEFAULT_EXPIRES_IN = token_endpoint.DEFAULT_EXPIRES_IN


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


#: Every failure is ``oauth_token_failed``; ``oauth_error`` and ``status`` tell them apart.
TOKEN_CODES = TokenCodes(
    unavailable="oauth_token_failed", refused="oauth_token_failed", invalid="oauth_token_failed"
)


def _request(body: dict[str, str], *, what: str, retry: bool) -> TokenSet:
    client_id, secret = client_credentials()
    answer = post_token_request(
        auth_url() + "/oauth/token",
        {**body, "client_id": client_id, "client_secret": secret},
        codes=TOKEN_CODES,
        what=what,
        encode="json",
        retry=retry,
        context={"grant_type": body["grant_type"]},
    )
    return TokenSet(
        access_token=answer.access_token,
        expires_in=answer.expires_in,
        refresh_token=answer.refresh_token,
        scope=answer.scope,
    )
