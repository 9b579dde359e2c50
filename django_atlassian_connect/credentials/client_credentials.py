"""OAuth 2.0 client credentials for service accounts: one token fetch, shared by every process.

``get_token(client_id, secret)`` returns a bearer token for the service
account, from ``POST {OAUTH_AUTH_URL}/oauth/token`` with the JSON body
``{"grant_type": "client_credentials", "client_id", "client_secret"}``.
Atlassian's answer lives 60 minutes (``expires_in``); it is handed out until
``OAUTH_REFRESH_MARGIN`` seconds (default 300) before that, from two places:

- process memory, so a warm call reads no cache;
- Django's cache (``TENANT_CACHE_ALIAS``, the cache the processes share; the
  ``default`` alias when that is off), **encrypted** with
  :func:`~django_atlassian_connect.crypto.encrypt`: a shared cache (Redis,
  Memcached) never holds a usable token in plaintext. Its key is a digest of
  the token URL, the client id and the secret, so a new secret gets a new token.

Concurrent callers make one request: a thread lock in the process and a short
cache lock (``cache.add``) across processes; a caller that loses the race
waits for the winner's token (``LOCK_WAIT`` s at most), then asks itself.

Failures are :class:`~django_atlassian_connect.exceptions.ConnectClientError`:
``service_account_refused`` (the server said no; its OAuth error string in
``oauth_error``) or ``service_account_unavailable``. No token or secret ever
reaches a log line, a message or a ``repr()``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from ..conf import connect_settings
from ..http.token_cache import SharedTokenCache
from ..http.token_endpoint import TokenCodes, post_token_request

__all__ = [
    "BearerToken",
    "clear_memory_cache",
    "forget_token",
    "get_token",
    "margin",
    "request_token",
    "token_url",
]

logger = logging.getLogger("django_atlassian_connect")

GRANT_TYPE = "client_credentials"
MEMORY_SIZE = 256
LOCK_TIMEOUT = 15  # s a cross-process lock may be held (a token request's worst case)
LOCK_WAIT = 10.0  # s a caller waits for another process's token request
_PREFIX = "atlassian_connect:client_credentials:"


@dataclass(frozen=True)
class BearerToken:
    """An access token and until when the gateway takes it."""

    token: str = field(repr=False)
    expires_at: float
    scope: str = ""


def margin() -> float:
    """Seconds before ``expires_in`` runs out that a token is no longer handed out."""
    return float(connect_settings.OAUTH_REFRESH_MARGIN)


def token_url() -> str:
    return str(connect_settings.OAUTH_AUTH_URL).rstrip("/") + "/oauth/token"


_tokens: SharedTokenCache[BearerToken] = SharedTokenCache(
    BearerToken,
    cache_alias=lambda: str(connect_settings.TENANT_CACHE_ALIAS or "default"),
    early=margin,
    memory_size=MEMORY_SIZE,
    lock_timeout=LOCK_TIMEOUT,
    lock_wait=LOCK_WAIT,
)


def clear_memory_cache() -> None:
    """Forget the tokens this process holds (tests; the Django cache keeps its copy)."""
    _tokens.clear_memory()


def _key(client_id: str, secret: str) -> str:
    material = "\0".join((token_url(), client_id, secret)).encode("utf-8")
    return _PREFIX + hashlib.sha256(material).hexdigest()


def forget_token(client_id: str, secret: str) -> None:
    """Drop the cached token (the gateway refused it): the next call asks for a new one."""
    _tokens.forget(_key(client_id, secret))


def get_token(client_id: str, secret: str, *, now: float | None = None) -> BearerToken:
    """The service account's bearer token: cached, else one request (see the module doc)."""
    return _tokens.get(_key(client_id, secret), lambda: request_token(client_id, secret), now=now)


#: The codes of a failed token request (the server's own error string is in ``oauth_error``).
TOKEN_CODES = TokenCodes(
    unavailable="service_account_unavailable",
    refused="service_account_refused",
    invalid="service_account_unavailable",
)


def request_token(client_id: str, secret: str) -> BearerToken:
    """One client-credentials request; no cache. The rules of the answer and of its
    errors are :mod:`~django_atlassian_connect.http.token_endpoint`'s."""
    answer = post_token_request(
        token_url(),
        {"grant_type": GRANT_TYPE, "client_id": client_id, "client_secret": secret},
        codes=TOKEN_CODES,
        what=f"issue a token for service account {client_id}",
        encode="json",
        # Issuing a token changes nothing: a retry of the POST after 429/5xx is safe.
        retry=True,
        context={"client_id": client_id},
    )
    logger.info("service account %s: token obtained (%d s)", client_id, answer.expires_in)
    return BearerToken(answer.access_token, answer.sent_at + answer.expires_in, answer.scope)
