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
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import RETRY_STATUSES, new_session
from ..token_cache import SharedTokenCache

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


def _session() -> requests.Session:
    # Issuing a token changes nothing: a retry of the POST after 429/5xx is safe.
    return new_session(retry_methods={"POST"})


def request_token(client_id: str, secret: str) -> BearerToken:
    """One client-credentials request; no cache."""
    url = token_url()
    context: dict[str, Any] = {"method": "POST", "url": url, "client_id": client_id}
    body = {"grant_type": GRANT_TYPE, "client_id": client_id, "client_secret": secret}
    started = time.time()
    try:
        response = _session().post(
            url, json=body, headers={"Accept": "application/json"}, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise ConnectClientError(
            "service_account_unavailable",
            f"The token request for service account {client_id} to {url} failed "
            f"({type(exc).__name__}); nothing was sent to the product.",
            **context,
        ) from exc
    context.update(status=response.status_code, response=response)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    if response.status_code != 200:
        error = answer.get("error")
        description = str(answer.get("error_description") or "")[:200]
        said = f"{response.status_code} {str(error)[:100] if error else response.reason}" + (
            f" ({description})" if description else ""
        )
        subject = f"{url} refused the client credentials of service account {client_id}"
        if isinstance(error, str) and error and response.status_code < 500:
            raise ConnectClientError(
                "service_account_refused",
                f"{subject}: {said}; nothing was sent to the product.",
                oauth_error=error[:100],
                oauth_error_description=description or None,
                **context,
            )
        code = (
            "service_account_unavailable"
            if response.status_code >= 500 or response.status_code in RETRY_STATUSES
            else "service_account_refused"
        )
        raise ConnectClientError(code, f"{subject}: {said}; nothing was sent.", **context)
    token, expires_in = answer.get("access_token"), answer.get("expires_in")
    if (
        not isinstance(token, str)
        or not token
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, (int, float))
        or expires_in <= 0
    ):
        raise ConnectClientError(
            "service_account_unavailable",
            f"The answer of {url} for service account {client_id} has no access_token and "
            "expires_in; nothing was sent.",
            **context,
        )
    logger.info("service account %s: token obtained (%d s)", client_id, expires_in)
    return BearerToken(token, started + float(expires_in), str(answer.get("scope") or ""))
