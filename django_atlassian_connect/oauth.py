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

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import locks
from .codes import CODES
from .conf import connect_settings
from .exceptions import ImpersonationError
from .http import RETRY_STATUSES, new_session
from .keys import is_staging_host
from .models import AbstractTenant, AccessToken
from .signing import current_secret
from .tokens import encode_hs256

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


def _grant_session() -> requests.Session:
    # The grant has no side effect, so POST may be retried on 5xx/429.
    return new_session(retry_methods={"POST"})


def request_grant(
    tenant: AbstractTenant, account_id: str, scopes: str, secret: str
) -> tuple[str, int]:
    """One grant request: ``(access_token, expires_in)``."""
    assertion = build_assertion(tenant, account_id, secret)
    data = {"grant_type": GRANT_TYPE, "assertion": assertion}
    if scopes:
        data["scope"] = scopes
    url = authorization_server_url(tenant) + "/oauth2/token"
    # What every error of this request carries (the assertion is not in it).
    context: dict[str, Any] = {
        "method": "POST",
        "url": url,
        "tenant": tenant,
        "account_id": account_id,
        "scopes": scopes,
    }
    try:
        response = _grant_session().post(url, data=data, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ImpersonationError(
            "authorization_server_unavailable",
            f"The token request to {url} failed ({type(exc).__name__}).",
            **context,
        ) from exc
    context.update(status=response.status_code, response=response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        description = str(description)[:200] if description else ""

        def refused(said: str) -> str:
            return (
                f"The authorization server refused to issue a token for {account_id} on "
                f"{tenant.base_url}: {response.status_code} {said}"
                + (f" ({description})" if description else "")
                + "."
            )

        if isinstance(error, str) and error:
            error = error[:100]
            raise ImpersonationError.from_oauth_error(
                error, refused(error), oauth_error_description=description or None, **context
            )
        code = (
            "authorization_server_unavailable"
            if response.status_code >= 500 or response.status_code in RETRY_STATUSES
            else "token_response_invalid"
        )
        raise ImpersonationError(code, refused(code), **context)
    token = body.get("access_token") if isinstance(body, dict) else None
    expires_in = body.get("expires_in", 900) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token or not isinstance(expires_in, (int, float)):
        raise ImpersonationError(
            "token_response_invalid",
            f"The authorization server's answer from {url} has no access_token/expires_in.",
            **context,
        )
    return token, int(expires_in)


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
        try:
            with transaction.atomic():
                row, _ = AccessToken.objects.get_or_create(
                    **lookup, defaults={"expires_at": _EPOCH}
                )
        except IntegrityError:
            row = AccessToken.objects.get(**lookup)
        # Other processes asking for the same token wait here.
        row = AccessToken.objects.select_for_update().get(pk=row.pk)
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


def _due_access_tokens(now: datetime) -> Any:
    """Tokens used in the last ``ACCESS_TOKEN_REFRESH_WINDOW`` seconds that expire
    within twice ``ACCESS_TOKEN_MARGIN`` + 5 minutes, of installed tenants."""
    window = timedelta(seconds=connect_settings.ACCESS_TOKEN_REFRESH_WINDOW)
    soon = now + timedelta(seconds=2 * connect_settings.ACCESS_TOKEN_MARGIN + 300)
    return AccessToken.objects.filter(
        last_used_at__gte=now - window,
        expires_at__lte=soon,
        tenant__is_installed=True,
    )


def due_access_token_pks(*, now: datetime | None = None) -> list[Any]:
    """The tokens a refresh run at ``now`` renews (see :func:`refresh_access_tokens`)."""
    rows = _due_access_tokens(now or timezone.now()).order_by("expires_at", "pk")
    return list(rows.values_list("pk", flat=True))


def refresh_access_token_batch(
    pks: Iterable[Any], *, now: datetime | None = None
) -> dict[str, int]:
    """Renew the tokens ``pks`` that are still due, each under a claim.

    What one Celery chunk task does (and the plain loop, chunk after chunk).
    A token another run holds (:func:`locks.claim`), or one that a concurrent
    run renewed already (no longer due), is skipped and counted as ``skipped``.
    """
    now = now or timezone.now()
    counts = {"refreshed": 0, "failed": 0, "skipped": 0}
    claims: dict[str, str] = {}
    for pk in pks:
        token = locks.claim(f"refresh_access_token:{pk}")
        if token is None:
            counts["skipped"] += 1
        else:
            claims[str(pk)] = token
    try:
        due = _due_access_tokens(now).filter(pk__in=list(claims)).select_related("tenant")
        for row in due.order_by("pk"):
            try:
                get_access_token(row.tenant, row.account_id, row.scopes, force_refresh=True)
                counts["refreshed"] += 1
            except ImpersonationError as exc:
                counts["failed"] += 1
                logger.warning(
                    "could not refresh the token of %s on %s: %s",
                    row.account_id,
                    row.tenant.client_key,
                    exc.code,
                )
            locks.release(f"refresh_access_token:{row.pk}", claims.pop(str(row.pk)))
    finally:
        counts["skipped"] += len(claims)
        for pk, token in claims.items():
            locks.release(f"refresh_access_token:{pk}", token)
    return counts


def forget_unused_access_tokens(*, now: datetime | None = None) -> int:
    """Tokens nobody used for a day are dead weight: delete them."""
    deleted, _ = AccessToken.objects.filter(
        expires_at__lt=(now or timezone.now()) - timedelta(days=1)
    ).delete()
    return deleted


def refresh_access_tokens(*, now: datetime | None = None) -> dict[str, int]:
    """Renew tokens used recently that expire soon, so requests rarely wait.

    "Recently" is ``ACCESS_TOKEN_REFRESH_WINDOW`` seconds; "soon" is within
    twice ``ACCESS_TOKEN_MARGIN`` + 5 minutes. Returns counts (``skipped``
    too when a concurrent run held or had just renewed some).

    The plain loop, chunks of ``HOUSEKEEPING_CHUNK_SIZE`` one after the other;
    the Celery task spreads them over the workers
    (:func:`refresh_access_token_batch`).
    """
    now = now or timezone.now()
    counts = {"refreshed": 0, "failed": 0, "skipped": 0}
    for chunk in locks.chunks(due_access_token_pks(now=now)):
        for key, value in refresh_access_token_batch(chunk, now=now).items():
            counts[key] += value
    forget_unused_access_tokens(now=now)
    if not counts["skipped"]:
        del counts["skipped"]
    return counts
