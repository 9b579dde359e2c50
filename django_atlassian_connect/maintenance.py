"""Housekeeping as plain functions: Celery tasks and management commands call these.

Each is idempotent and safe to run concurrently with itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import signals, tenant_cache
from .client import ConnectClient
from .conf import connect_settings
from .exceptions import ConnectAPIError, ConnectClientError
from .models import AbstractTenant, SeenLifecycleToken, SharedSecret, get_tenant_model
from .oauth import refresh_access_tokens

__all__ = [
    "purge_retired_secrets",
    "purge_seen_tokens",
    "refresh_access_tokens",
    "verify_installation",
    "verify_installations",
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
    ``error`` (network or 5xx: says nothing about the secret).
    """
    path = verify_endpoint(tenant)
    try:
        ConnectClient(tenant).as_app().get(path)
        status, detail = "ok", f"GET {path} answered 2xx"
    except ConnectAPIError as exc:
        status = {401: "unauthorized", 403: "forbidden"}.get(exc.status_code, "error")
        detail = str(exc)
    except (ConnectClientError, Exception) as exc:  # network errors, missing secret
        status, detail = "error", f"{type(exc).__name__}: {exc}"
    tenant_model = get_tenant_model()
    with transaction.atomic():
        tenant_model._default_manager.filter(pk=tenant.pk).update(
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


def verify_installations(*, limit: int | None = None) -> dict[str, Any]:
    """Verify every installed, enabled tenant; counts per outcome."""
    tenants = (
        get_tenant_model()
        ._default_manager.filter(is_installed=True, is_enabled=True)
        .order_by("last_verified_at", "pk")
    )
    if limit:
        tenants = tenants[:limit]
    counts: dict[str, Any] = {"ok": 0, "unauthorized": 0, "forbidden": 0, "error": 0}
    for tenant in tenants:
        counts[verify_installation(tenant)] += 1
    return counts
