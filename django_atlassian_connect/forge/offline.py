"""Acting as any user of an installation: the ``offlineUserAuthToken`` mutation (spec 4.5).

``get_offline_token(installation, account_id, system_token=..., context_id=...)``
returns a bearer token acting as ``account_id``. One mutation
(``POST {gateway origin}/graphql`` with the app system token) gives a token
and its ``ttl``; it is kept until ``ttl - 60`` s in two places:

- process memory (a small LRU), so a warm call makes no cache read;
- Django's cache (``FORGE_JWKS_CACHE_ALIAS``, the Forge cache), shared by the
  processes, **encrypted** with :func:`~django_atlassian_connect.crypto.encrypt`:
  a shared cache (Redis, Memcached) never holds a usable token in plaintext,
  and its key is a digest of the installation and account ids.

Concurrent callers for the same (installation, account) make one mutation: a
thread lock in the process and a short cache lock across processes (a caller
that loses the race waits briefly for the winner's token, then asks itself).

The mutation answers its errors with HTTP 200 (``errors[].message``, or
``success: false``); every failure is a ``ConnectClientError`` with the code
``forge_user_token_unavailable`` and the gateway's messages in
``gateway_messages``. No token appears in a log line, a message or a repr.

``contextIds`` names the site in one of two forms (:mod:`.context_ids`): the
form learnt for the installation, else ``FORGE_CONTEXT_ARI_FORM``, first; on
the gateway's "Could not load permissions ... contextIds" answer the other
form once, and the one that worked is remembered. When neither works, the
error's hint names the prerequisites (:func:`impersonation_hint`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import new_session, product_message
from ..http.token_cache import SharedTokenCache
from . import context_ids

__all__ = [
    "MUTATION",
    "OfflineToken",
    "clear_memory_cache",
    "forget_offline_token",
    "get_offline_token",
    "graphql_url",
    "impersonation_hint",
    "request_offline_token",
]

logger = logging.getLogger("django_atlassian_connect")

MUTATION = (
    "mutation forge_remote_offlineUserAuthToken($input: OfflineUserAuthTokenInput!) "
    "{ offlineUserAuthToken(input: $input) { success errors { message } "
    "authToken { token ttl } } }"
)
#: Seconds before its ttl runs out that a cached token is no longer handed out.
EARLY = 60
MEMORY_SIZE = 1024
LOCK_TIMEOUT = 15  # s a cross-process lock may be held (a mutation's worst case)
LOCK_WAIT = 5.0  # s a caller waits for another process's mutation
_PREFIX = "atlassian_connect:forge_offline:"


@dataclass(frozen=True)
class OfflineToken:
    """A token acting as one user, and until when it may be handed out."""

    token: str = field(repr=False)
    expires_at: float  # when the gateway stops taking it: issued + ttl


_tokens: SharedTokenCache[OfflineToken] = SharedTokenCache(
    OfflineToken,
    cache_alias=lambda: str(connect_settings.FORGE_JWKS_CACHE_ALIAS),
    early=lambda: EARLY,
    memory_size=MEMORY_SIZE,
    lock_timeout=LOCK_TIMEOUT,
    lock_wait=LOCK_WAIT,
)


def clear_memory_cache() -> None:
    """Forget the tokens this process holds (tests; the Django cache keeps its copy)."""
    _tokens.clear_memory()


def graphql_url(api_base_url: str) -> str:
    """``{scheme}://{host}/graphql`` of the gateway an ``apiBaseUrl`` points at."""
    parts = urlsplit(api_base_url)
    return f"{parts.scheme}://{parts.netloc}/graphql"


def _cache_key(key: tuple[str, str]) -> str:
    return _PREFIX + hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()


def forget_offline_token(installation_id: str, account_id: str) -> None:
    """Drop a cached token (the product refused it): the next call makes a new one."""
    _tokens.forget(_cache_key((installation_id, account_id)))


def get_offline_token(
    installation: Any,
    account_id: str,
    *,
    system_token: str,
    context_id: str,
    now: float | None = None,
) -> OfflineToken:
    """A token acting as ``account_id``: cached, else one mutation (see the module doc).

    ``installation`` needs ``installation_id`` and ``api_base_url``;
    ``context_id`` is the installation's site ARI (the mutation's ``contextIds``).
    """
    return _tokens.get(
        _cache_key((str(installation.installation_id), account_id)),
        lambda: request_offline_token(
            installation, account_id, system_token=system_token, context_id=context_id
        ),
        now=now,
    )


def _session() -> requests.Session:
    # The mutation changes nothing but issuing a token: a retry after 429/5xx is safe.
    return new_session(retry_methods={"POST"})


def impersonation_hint(tried: list[str]) -> str:
    """The prerequisites of offline impersonation, after the gateway refused every form."""
    off = not connect_settings.FORGE_OFFLINE_IMPERSONATION
    return (
        f"The gateway could not load the app's impersonation permissions for "
        f"contextIds {', '.join(tried)}. Offline impersonation needs the manifest's "
        "permissions.scopes in map form with allowImpersonation: true on each scope the "
        "calls use (read:app-user-token alone is not enough)"
        + (
            ': FORGE_OFFLINE_IMPERSONATION is off, so set ATLASSIAN_CONNECT["FORGE_OFFLINE_'
            'IMPERSONATION"] = True and regenerate the manifest (manage.py forge_manifest)'
            if off
            else ""
        )
        + ", then forge deploy: changed scopes are a major version a site admin must approve. "
        "The user must have access to the app and be active (not an app user), and no scope "
        "that needs the user's consent (read:me) can be used offline."
    )


def request_offline_token(
    installation: Any, account_id: str, *, system_token: str, context_id: str
) -> OfflineToken:
    """An ``offlineUserAuthToken`` mutation; no cache.

    ``context_id``: the installation's site ARI. A site (or workspace) ARI is
    sent in the form learnt for the installation or configured, then once in
    the other form if the gateway cannot load permissions for the first; any
    other ARI is sent as given.
    """
    installation_id = str(installation.installation_id)
    site = context_ids.split_context_ari(context_id)
    if site is None:
        return _mutation(installation, account_id, system_token, context_id)
    forms = context_ids.forms_to_try(installation_id)
    tried: list[str] = []
    for form in forms:
        ari = context_ids.context_ari(form, *site)
        tried.append(ari)
        try:
            found = _mutation(installation, account_id, system_token, ari)
        except ConnectClientError as exc:
            if not context_ids.is_permissions_refusal(exc.context.get("gateway_messages", ())):
                raise
            if len(tried) < len(forms):
                logger.info(
                    "forge offline token: the gateway refused contextIds %s for %s; trying %s",
                    ari,
                    installation_id,
                    forms[len(tried)],
                )
                continue
            raise ConnectClientError(
                "forge_user_token_unavailable",
                exc.detail,
                hint=impersonation_hint(tried),
                **{**exc.context, "context_ids_tried": tried},
            ) from exc
        if form != forms[0]:
            context_ids.remember(installation_id, form)
        return found
    raise AssertionError("unreachable: every form returns or raises")  # pragma: no cover


def _mutation(
    installation: Any, account_id: str, system_token: str, context_id: str
) -> OfflineToken:
    """One ``offlineUserAuthToken`` mutation with ``contextIds = [context_id]``."""
    installation_id = str(installation.installation_id)
    url = graphql_url(str(installation.api_base_url))
    context: dict[str, Any] = {
        "method": "POST",
        "url": url,
        "installation": installation,
        "account_id": account_id,
        "gateway_messages": [],
        "context_ids_tried": [context_id],
    }
    subject = f"No offline token acting as {account_id} on installation {installation_id}"
    body: dict[str, Any] = {
        "query": MUTATION,
        "variables": {"input": {"contextIds": [context_id], "userId": account_id}},
    }
    started = time.time()
    try:
        response = _session().post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {system_token}", "Accept": "application/json"},
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise ConnectClientError(
            "forge_user_token_unavailable",
            f"{subject}: the mutation could not reach {url} ({type(exc).__name__}).",
            **context,
        ) from exc
    context.update(status=response.status_code, response=response)
    if response.status_code != 200:
        said = product_message(response)
        context["gateway_messages"] = [said] if said else []
        raise ConnectClientError(
            "forge_user_token_unavailable",
            f"{subject}: {url} answered {response.status_code} {response.reason}"
            + (f" ({said})" if said else "")
            + ".",
            hint=(
                "A 401 means the gateway refused the app system token (expired or revoked: "
                "the hourly scheduledTrigger keeps a fresh one); a 403, that the app lacks a "
                "scope for this site."
                if response.status_code in (401, 403)
                else None
            ),
            **context,
        )
    result, messages = _read_answer(response)
    context["gateway_messages"] = messages
    token = result.get("token") if result else None
    ttl = result.get("ttl") if result else None
    if not isinstance(token, str) or not token or isinstance(ttl, bool):
        said = "; ".join(messages) or "no authToken in the answer"
        raise ConnectClientError(
            "forge_user_token_unavailable", f"{subject}: the gateway says: {said}.", **context
        )
    try:
        lifetime = float(ttl)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        lifetime = 0.0
    if lifetime <= 0:
        raise ConnectClientError(
            "forge_user_token_unavailable",
            f"{subject}: the answer's authToken has no usable ttl ({str(ttl)[:20]!r}).",
            **context,
        )
    logger.info(
        "forge offline user token for %s on %s (ttl %d s)", account_id, installation_id, lifetime
    )
    # Cached until ttl - EARLY; a token living less than that is used, not cached.
    return OfflineToken(token, started + lifetime)


def _read_answer(response: requests.Response) -> tuple[dict[str, Any] | None, list[str]]:
    """``authToken`` of a successful answer (else ``None``) and every message the gateway sent."""
    try:
        body = response.json()
    except ValueError:
        return None, ["the answer is not JSON"]
    if not isinstance(body, dict):
        return None, ["the answer is not a JSON object"]
    messages = _messages(body.get("errors"))
    data = body.get("data")
    mutation = data.get("offlineUserAuthToken") if isinstance(data, dict) else None
    if not isinstance(mutation, dict):
        return None, messages or ["the answer has no data.offlineUserAuthToken"]
    messages += _messages(mutation.get("errors"))
    if mutation.get("success") is not True:
        return None, messages or ["success is false and no error was given"]
    auth = mutation.get("authToken")
    return (auth if isinstance(auth, dict) else None), messages


def _messages(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            found.append(str(message)[:300])
    return found
