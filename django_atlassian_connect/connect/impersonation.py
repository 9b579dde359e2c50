"""Acting as a user: the OAuth 2.0 JWT-bearer grant and its token cache.

``get_access_token(tenant, account_id, scopes)`` returns a bearer token for
the user, from the :class:`~django_atlassian_connect.models.AccessToken`
cache while more than ``ACCESS_TOKEN_MARGIN`` seconds remain, otherwise from
one grant request. Concurrent callers for the same (tenant, user, scopes)
wait on a row lock (and, in one process, a thread lock), so exactly one grant
is made.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..codes import CODES, OAUTH_ERROR_CODES
from ..conf import connect_settings
from ..exceptions import ImpersonationError
from ..http.token_endpoint import TokenCodes, post_token_request
from ..models import AbstractTenant, AccessToken
from ..models.locking import lock_or_create
from ..tokens import encode_hs256
from .install_keys import is_staging_host
from .signing import current_secret

logger = logging.getLogger("django_atlassian_connect")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Deprecated: the hints of the codes this module had its own table for; the
#: texts now live in :data:`django_atlassian_connect.codes.CODES`.
HINTS: dict[str, str] = {
    code: CODES[code].hint
    for code in (
        "unauthorized_client",
        "invalid_grant",
        "invalid_scope",
        "oauth_client_id_missing",
        "authorization_server_unavailable",
        "token_response_invalid",
    )
}

_thread_locks: dict[tuple[Any, ...], threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def normalise_scopes(scopes: Iterable[str] | str | None) -> str:
    """``"read write READ"`` or ``["write", "read"]`` -> ``"READ WRITE"``."""
    if scopes is None:
        return ""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return " ".join(sorted({str(s).strip().upper() for s in items if str(s).strip()}))


def authorization_server_url(tenant: AbstractTenant) -> str:
    if is_staging_host(tenant.base_url):
        return connect_settings.AUTHORIZATION_SERVER_STAGING_URL.rstrip("/")
    return connect_settings.AUTHORIZATION_SERVER_URL.rstrip("/")


def build_assertion(
    tenant: AbstractTenant, account_id: str, secret: str, *, now: float | None = None
) -> str:
    """The JWT-bearer assertion: HS256 with the tenant secret, no qsh."""
    if not tenant.oauth_client_id:
        raise ImpersonationError(
            "oauth_client_id_missing",
            f"Cannot act as a user on {tenant.base_url}: the installation has no oauthClientId.",
            tenant=tenant,
            account_id=account_id,
        )
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": f"urn:atlassian:connect:clientid:{tenant.oauth_client_id}",
        "sub": f"urn:atlassian:connect:useraccountid:{account_id}",
        "tnt": tenant.base_url,
        "aud": authorization_server_url(tenant),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    return encode_hs256(claims, secret)


#: The codes of the grant's failures; an OAuth error string we register is its own code.
GRANT_CODES = TokenCodes(
    unavailable="authorization_server_unavailable",
    refused="oauth_error",
    invalid="token_response_invalid",
    oauth_errors=OAUTH_ERROR_CODES,
)


def request_grant(
    tenant: AbstractTenant, account_id: str, scopes: str, secret: str
) -> tuple[str, int]:
    """One grant request: ``(access_token, expires_in)``.

    The rules of the answer and of its errors are :mod:`~django_atlassian_connect.http.token_endpoint`'s.
    """
    assertion = build_assertion(tenant, account_id, secret)
    data = {"grant_type": GRANT_TYPE, "assertion": assertion}
    if scopes:
        data["scope"] = scopes
    answer = post_token_request(
        authorization_server_url(tenant) + "/oauth2/token",
        data,
        codes=GRANT_CODES,
        what=f"issue a token for {account_id} on {tenant.base_url}",
        # The grant has no side effect, so POST may be retried on 5xx/429.
        retry=True,
        error=ImpersonationError,
        context={"tenant": tenant, "account_id": account_id, "scopes": scopes},
    )
    return answer.access_token, answer.expires_in


def _thread_lock(key: tuple[Any, ...]) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


def _is_fresh(row: AccessToken, now: datetime) -> bool:
    margin = timedelta(seconds=connect_settings.ACCESS_TOKEN_MARGIN)
    return row.token is not None and row.expires_at - margin > now


def _touch(row: AccessToken, now: datetime) -> None:
    # One write a minute at most: last_used_at drives the background refresh.
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=60):
        AccessToken.objects.filter(pk=row.pk).update(last_used_at=now)


def get_access_token(
    tenant: AbstractTenant,
    account_id: str,
    scopes: Iterable[str] | str | None = None,
    *,
    force_refresh: bool = False,
) -> str:
    """A bearer token to act as ``account_id`` on ``tenant``'s site."""
    if not account_id:
        raise ValueError("account_id is required to act as a user")
    scope_key = normalise_scopes(scopes)
    if not tenant.oauth_client_id:
        build_assertion(tenant, account_id, "")  # raises oauth_client_id_missing
    now = timezone.now()
    lookup = {"tenant_id": tenant.pk, "account_id": account_id, "scopes": scope_key}
    if not force_refresh:
        row = AccessToken.objects.filter(**lookup).first()
        if row is not None and _is_fresh(row, now):
            _touch(row, now)
            return str(row.token)
    with _thread_lock((tenant.pk, account_id, scope_key)):
        return _grant_locked(tenant, account_id, scope_key, lookup, force_refresh)


def _grant_locked(
    tenant: AbstractTenant,
    account_id: str,
    scope_key: str,
    lookup: dict[str, Any],
    force_refresh: bool,
) -> str:
    started = timezone.now()
    with transaction.atomic():
        # Other processes asking for the same token wait here.
        row, _ = lock_or_create(AccessToken.objects, lookup, {"expires_at": _EPOCH})
        assert row is not None  # created when missing
        now = timezone.now()
        fresh_since_we_asked = row.obtained_at is not None and row.obtained_at >= started
        if _is_fresh(row, now) and (not force_refresh or fresh_since_we_asked):
            _touch(row, now)
            return str(row.token)
        token, expires_in = request_grant(
            tenant, account_id, scope_key, current_secret(tenant).value
        )
        now = timezone.now()
        row.token = token
        row.expires_at = now + timedelta(seconds=expires_in)
        row.obtained_at = now
        row.last_used_at = now
        row.save(update_fields=["token", "expires_at", "obtained_at", "last_used_at"])
    logger.info(
        "impersonation token obtained for %s on %s (scopes %s, %s s)",
        account_id,
        tenant.client_key,
        scope_key or "default",
        expires_in,
    )
    return token


def forget_access_token(
    tenant: AbstractTenant, account_id: str, scopes: Iterable[str] | str | None = None
) -> None:
    """Drop a cached token (the product refused it)."""
    AccessToken.objects.filter(
        tenant_id=tenant.pk, account_id=account_id, scopes=normalise_scopes(scopes)
    ).update(token=None, expires_at=_EPOCH)
