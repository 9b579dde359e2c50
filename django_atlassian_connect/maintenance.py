"""Housekeeping as plain functions: Celery tasks and management commands call these.

Each is idempotent and safe to run concurrently with itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import ratelimit, signals
from .conf import connect_settings
from .connect import tenant_cache
from .connect.client import ConnectClient
from .connect.impersonation import refresh_access_tokens
from .exceptions import ConnectAPIError, ConnectClientError, RateLimitBackoffError
from .forge.installations import installations_running_out
from .housekeeping.jobs import ChunkedJob
from .models import AbstractTenant, SeenLifecycleToken, SharedSecret, get_tenant_model
from .threelo.housekeeping import refresh_oauth_grants

__all__ = [
    "VERIFY_INSTALLATIONS",
    "due_installation_pks",
    "purge_retired_secrets",
    "purge_seen_tokens",
    "refresh_access_tokens",
    "refresh_oauth_grants",
    "report_forge_tokens",
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
    (:func:`~.housekeeping.claims.claim`), or one that is no longer due when
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


#: Forge's hourly scheduledTrigger brings a fresh app system token: a stored one that
#: runs out before the next trigger (plus FORGE_TOKEN_MARGIN) leaves jobs without one.
FORGE_TRIGGER_INTERVAL = 3600


def report_forge_tokens(*, within: float | None = None) -> dict[str, int]:
    """Warn about Forge installations whose stored app system token runs out before the
    next hourly trigger (``within``, default 3600 s + ``FORGE_TOKEN_MARGIN``).

    One WARNING line naming the installation ids (never a token); returns
    ``{"running_out": n, "expired": k}`` (``expired``: no token, or already out).
    Tokens cannot be renewed from here (there is no refresh endpoint): the fix
    is the manifest's hourly ``scheduledTrigger`` reaching the app.
    """
    if within is None:
        within = FORGE_TRIGGER_INTERVAL + float(connect_settings.FORGE_TOKEN_MARGIN)
    now = timezone.now()
    running_out = list(installations_running_out(within=within))
    expired = [
        i
        for i in running_out
        if i.system_token_expires_at is None or i.system_token_expires_at <= now
    ]
    if running_out:
        logger.warning(
            "%d Forge installation(s) have no app system token lasting until the next hourly "
            "trigger (%d already without one): %s. Check that the manifest's hourly "
            "scheduledTrigger reaches an endpoint with auth.appSystemToken.enabled.",
            len(running_out),
            len(expired),
            ", ".join(sorted(str(i.installation_id) for i in running_out)),
            extra={"connect_code": "forge_token_expired"},
        )
    return {"running_out": len(running_out), "expired": len(expired)}
