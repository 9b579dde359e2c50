"""Connect's housekeeping: what keeps installations and impersonation tokens healthy.

Plain functions (run by :mod:`django_atlassian_connect.maintenance`, the Celery
tasks and ``connect_housekeeping``), each idempotent and safe to run
concurrently with itself; the per-item ones are :class:`ChunkedJob` s
(claims per item, one failure never stops the batch).

- :func:`purge_retired_secrets`, :func:`purge_seen_tokens`: forget what can
  no longer verify anything;
- :func:`verify_installations`: one signed call as the app per installed
  tenant, to find shared secrets that went out of sync;
- :func:`refresh_access_tokens`: renew impersonation tokens in use before
  they run out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from ..conf import connect_settings
from ..exceptions import (
    ConnectAPIError,
    ConnectClientError,
    ImpersonationError,
    RateLimitBackoffError,
)
from ..housekeeping.jobs import ChunkedJob
from ..http import ratelimit
from ..models import AbstractTenant, AccessToken, SeenLifecycleToken, SharedSecret, get_tenant_model
from . import impersonation, tenant_cache
from .client import ConnectClient

__all__ = [
    "DEFERRED",
    "REFRESH_ACCESS_TOKENS",
    "VERIFY_INSTALLATIONS",
    "due_access_token_pks",
    "due_installation_pks",
    "forget_unused_access_tokens",
    "purge_retired_secrets",
    "purge_seen_tokens",
    "refresh_access_token_batch",
    "refresh_access_tokens",
    "verify_endpoint",
    "verify_installation",
    "verify_installations",
    "verify_installations_batch",
]

logger = logging.getLogger("django_atlassian_connect")


def purge_retired_secrets(*, now: datetime | None = None) -> int:
    """Drop the material of secrets retired more than ``SECRET_RETENTION`` ago.

    The row, fingerprint and timestamps stay: the history is complete, only the
    key that could verify old tokens is gone. The retention is never shorter
    than ``SECRET_GRACE_PERIOD``.
    """
    now = now or timezone.now()
    retention = max(connect_settings.SECRET_RETENTION, connect_settings.SECRET_GRACE_PERIOD)
    due = SharedSecret.objects.filter(
        retired_at__lt=now - timedelta(seconds=retention), purged_at__isnull=True
    )
    client_keys = set(due.values_list("tenant__client_key", flat=True))
    count = due.update(secret=None, purged_at=now)
    # update() sends no model signals: refresh the warm-path cache by hand.
    for client_key in client_keys:
        tenant_cache.refresh(client_key)
    if count:
        logger.info("purged the material of %d retired shared secret(s)", count)
    return count


def purge_seen_tokens(*, now: datetime | None = None) -> int:
    """Forget signed lifecycle tokens that have expired (they are refused as
    expired anyway, so remembering them guards nothing)."""
    deleted, _ = SeenLifecycleToken.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def verify_endpoint(tenant: AbstractTenant) -> str:
    endpoints = connect_settings.VERIFY_ENDPOINTS
    kind = "confluence" if tenant.is_confluence else "jira"
    return endpoints.get(tenant.product_type) or endpoints[kind]


def verify_installation(tenant: AbstractTenant) -> str:
    """One signed call as the app; record and return the outcome.

    ``ok``; ``unauthorized`` (a 401: our shared secret is out of sync, the
    ``installation_verification_failed`` signal is sent); ``forbidden``;
    ``error`` (network or 5xx: says nothing about the secret);
    ``deferred_rate_limited`` (not sent: the site's 429 backoff runs; nothing
    recorded, the installation stays due).
    """
    path = verify_endpoint(tenant)
    try:
        ConnectClient(tenant).as_app().get(path)
        status, detail = "ok", f"GET {path} answered 2xx"
    except RateLimitBackoffError:
        return DEFERRED
    except ConnectAPIError as exc:
        status = {401: "unauthorized", 403: "forbidden"}.get(exc.status_code, "error")
        detail = str(exc)
    except (ConnectClientError, Exception) as exc:  # network errors, missing secret
        status, detail = "error", f"{type(exc).__name__}: {exc}"
    # One UPDATE: atomic on its own (no transaction around it, no BEGIN/COMMIT to pay
    # per tenant); the signal below still waits for any enclosing transaction.
    get_tenant_model()._default_manager.filter(pk=tenant.pk).update(
        last_verified_at=timezone.now(),
        verification_status=status,
        verification_detail=detail[:2000],
    )
    if status == "unauthorized":
        logger.warning("installation %s refused our signed call: secret suspect", tenant.client_key)
        transaction.on_commit(
            lambda: signals.installation_verification_failed.send(
                sender=type(tenant), tenant=tenant, status=status, detail=detail
            )
        )
    return status


_OUTCOMES = ("ok", "unauthorized", "forbidden", "error")
#: Left for a later run: the site's quota is nearly spent or a 429 is being waited out.
DEFERRED = "deferred_rate_limited"


def _due_installations(started_at: datetime, min_age: float) -> Any:
    """Installed, enabled, and not verified since ``started_at - min_age``."""
    cutoff = started_at - timedelta(seconds=min_age)
    return (
        get_tenant_model()
        ._default_manager.filter(is_installed=True, is_enabled=True)
        .filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=cutoff))
    )


def due_installation_pks(
    *, started_at: datetime | None = None, min_age: float = 0, limit: int | None = None
) -> list[Any]:
    """The installations a run started at ``started_at`` verifies, oldest verification first."""
    pks = (
        _due_installations(started_at or timezone.now(), min_age)
        .order_by("last_verified_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(pks[:limit] if limit else pks)


def _verify_one(tenant: AbstractTenant, **_: Any) -> tuple[str, str] | str:
    """One tenant's outcome; deferred (with why) when its site is near its rate limit."""
    why = ratelimit.housekeeping_deferral(tenant.client_key)
    outcome = DEFERRED if why else verify_installation(tenant)
    if outcome == DEFERRED:
        # No why: the call itself met a 429 backoff that began after the check.
        return outcome, f"{tenant.client_key} ({why or 'backoff'})"
    return outcome


def _still_due(pks: list[Any], *, now: datetime, min_age: float = 0) -> Any:
    return _due_installations(now, min_age).filter(pk__in=pks).order_by("pk")


#: The job behind :func:`verify_installations` (claims named ``verify_installation:<pk>``).
VERIFY_INSTALLATIONS = ChunkedJob(
    name="verify_installation",
    due_pks=lambda *, now, min_age=0: due_installation_pks(started_at=now, min_age=min_age),
    still_due=_still_due,
    run_one=_verify_one,
    outcomes=_OUTCOMES,
    failed="error",
    occasional=(DEFERRED,),
    describe=lambda tenant: str(tenant.client_key),
    noted={DEFERRED: "verify_installations deferred %d installation(s) near their rate limit: %s"},
)


def verify_installations_batch(
    pks: Iterable[Any], *, started_at: datetime | None = None, min_age: float = 0
) -> dict[str, int]:
    """Verify the installations ``pks`` that are still due, each under a claim.

    What one Celery chunk task does (and the plain loop, chunk after chunk).
    Skipped, and counted as ``skipped``: an installation another run holds
    (:func:`~django_atlassian_connect.housekeeping.claims.claim`), or one that is no longer due when
    its claim is taken: verified since ``started_at - min_age`` (by a
    concurrent run), uninstalled or disabled. The chunk's rows are read in one
    query, after claiming, so what a concurrent run did is seen. One
    installation that fails is counted as ``error``; the batch goes on.

    Deferred, and counted as ``deferred_rate_limited`` (only when some are):
    an installation whose site reported NearLimit or answered 429 recently
    (:func:`ratelimit.housekeeping_deferral`, shared by all processes). A
    verification is never urgent; it stays due and a later run does it.
    """
    return VERIFY_INSTALLATIONS.batch(pks, now=started_at, min_age=min_age)


def verify_installations(*, limit: int | None = None, min_age: float = 0) -> dict[str, Any]:
    """Verify every installed, enabled tenant; counts per outcome.

    The plain loop, for a management command or a process without Celery:
    the due installations (not verified since this run began, or ``min_age``
    seconds before) in chunks of ``HOUSEKEEPING_CHUNK_SIZE``, one after the
    other; the Celery task spreads the same chunks over the workers
    (:func:`verify_installations_batch`). ``skipped`` appears when a
    concurrent run held or had just verified some of them,
    ``deferred_rate_limited`` when sites near their rate limit were left for later.
    """
    return VERIFY_INSTALLATIONS.run(limit=limit, min_age=min_age)


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


def _refresh_one(row: AccessToken, **_: Any) -> str:
    try:
        impersonation.get_access_token(row.tenant, row.account_id, row.scopes, force_refresh=True)
    except ImpersonationError as exc:
        logger.warning(
            "could not refresh the token of %s on %s: %s",
            row.account_id,
            row.tenant.client_key,
            exc.code,
        )
        return "failed"
    return "refreshed"


def _still_due_tokens(pks: list[Any], *, now: datetime) -> Any:
    return _due_access_tokens(now).filter(pk__in=pks).select_related("tenant").order_by("pk")


def refresh_access_token_batch(
    pks: Iterable[Any], *, now: datetime | None = None
) -> dict[str, int]:
    """Renew the tokens ``pks`` that are still due, each under a claim.

    What one Celery chunk task does (and the plain loop, chunk after chunk).
    A token another run holds (:func:`~django_atlassian_connect.housekeeping.claims.claim`), or one
    that a concurrent run renewed already (no longer due), is skipped and
    counted as ``skipped``. One token that fails is counted as ``failed``;
    the batch goes on.
    """
    return REFRESH_ACCESS_TOKENS.batch(pks, now=now)


def forget_unused_access_tokens(*, now: datetime | None = None) -> int:
    """Tokens nobody used for a day are dead weight: delete them."""
    deleted, _ = AccessToken.objects.filter(
        expires_at__lt=(now or timezone.now()) - timedelta(days=1)
    ).delete()
    return deleted


#: The job behind :func:`refresh_access_tokens` (claims named ``refresh_access_token:<pk>``).
REFRESH_ACCESS_TOKENS = ChunkedJob(
    name="refresh_access_token",
    due_pks=due_access_token_pks,
    still_due=_still_due_tokens,
    run_one=_refresh_one,
    outcomes=("refreshed", "failed"),
    describe=lambda row: f"the token of {row.account_id} on {row.tenant.client_key}",
    tidy=forget_unused_access_tokens,
)


def refresh_access_tokens(*, now: datetime | None = None) -> dict[str, int]:
    """Renew tokens used recently that expire soon, so requests rarely wait.

    "Recently" is ``ACCESS_TOKEN_REFRESH_WINDOW`` seconds; "soon" is within
    twice ``ACCESS_TOKEN_MARGIN`` + 5 minutes. Returns counts (``skipped``
    too when a concurrent run held or had just renewed some).

    The plain loop, chunks of ``HOUSEKEEPING_CHUNK_SIZE`` one after the other;
    the Celery task spreads them over the workers
    (:func:`refresh_access_token_batch`).
    """
    return REFRESH_ACCESS_TOKENS.run(now=now)
