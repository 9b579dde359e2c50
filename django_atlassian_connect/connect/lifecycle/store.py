"""Persist a delivery: row locks, the secret history, the lifecycle log, the Forge link."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from ...exceptions import ConnectAuthError
from ...forge.linking import link_connect_install, mark_tenant_uninstalled
from ...models import (
    AbstractTenant,
    ForgeInstallation,
    LifecycleEvent,
    SharedSecret,
    get_tenant_model,
)
from ...models.locking import lock_or_create
from .payload import RECORDED_FIELDS

logger = logging.getLogger("django_atlassian_connect")


def lock_tenant(
    client_key: str, create_with: dict[str, Any] | None = None
) -> tuple[AbstractTenant | None, bool]:
    """Lock the tenant row; create it when ``create_with`` is given.

    Two first installs racing for one clientKey: the loser's INSERT fails on
    the unique constraint and it locks the winner's row instead
    (:func:`~django_atlassian_connect.models.locking.lock_or_create`).
    """
    manager = get_tenant_model()._default_manager
    return lock_or_create(manager, {"client_key": client_key}, create_with)


def store_secret(
    tenant: AbstractTenant, secret: str, when: datetime
) -> tuple[SharedSecret, SharedSecret | None]:
    """Make ``secret`` current; return ``(current, retired)``.

    The same secret again (an upgrade without rotation) keeps its row.
    """
    current = (
        SharedSecret.objects.select_for_update()
        .filter(tenant_id=tenant.pk, retired_at__isnull=True)
        .first()
    )
    if (
        current is not None
        and current.secret is not None
        and hmac.compare_digest(current.secret.encode("utf-8"), secret.encode("utf-8"))
    ):
        return current, None
    if current is not None:
        current.retired_at = when
        current.save(update_fields=["retired_at"])
    new = SharedSecret.for_secret(tenant, secret, became_current_at=when)
    new.save()
    return new, current


def link_forge_installation(
    tenant: AbstractTenant, installation_id: str, now: float | None
) -> ForgeInstallation | None:
    """Connect-on-Forge: the signed install names the tenant's Forge installation (spec §6).

    Links it (a reinstall's new id supersedes the previous ones). An id that
    is not an installation ARI is logged and ignored: it does not refuse the
    install.
    """
    if not installation_id:
        return None
    try:
        return link_connect_install(tenant, installation_id, now=now)
    except ValueError:
        logger.warning(
            "installed: %s carries installationId %r, not a Forge installation id; not linked",
            tenant.client_key,
            installation_id[:80],
        )
        return None


def uninstall_forge_installations(tenant: AbstractTenant, now: float | None) -> list[str]:
    """Connect-on-Forge: the tenant's ``uninstalled`` ends its linked Forge installations too.

    In the uninstall's transaction: housekeeping and ``ForgeClient`` skip them
    from the commit on (``forge_installation_uninstalled``).
    """
    return mark_tenant_uninstalled(tenant, now=now)


def record(
    event_type: str,
    payload: Mapping[str, Any] | None,
    *,
    tenant: AbstractTenant | None = None,
    error: ConnectAuthError | None = None,
    status_code: int = 204,
    secret: SharedSecret | None = None,
    rotated: bool = False,
    detail: str = "",
    client_key: str | None = None,
    token_issued_at: datetime | None = None,
) -> LifecycleEvent:
    recorded = {}
    if payload:
        recorded = {
            name: payload[name][:300]
            for name in RECORDED_FIELDS
            if isinstance(payload.get(name), str)
        }
    key = client_key or (payload or {}).get("clientKey")
    return LifecycleEvent.objects.create(
        event_type=event_type,
        client_key=key[:255] if isinstance(key, str) else "",
        tenant_id=tenant.pk if tenant is not None else None,
        accepted=error is None,
        status_code=error.status_code if error else status_code,
        error_code=error.code if error else "",
        detail=(f"{error.detail}" if error else detail)[:2000],
        base_url=recorded.get("baseUrl", "")[:255],
        secret_fingerprint=secret.fingerprint if secret else "",
        secret_rotated=rotated,
        payload=recorded,
        token_issued_at=token_issued_at,
    )


def record_refusal(
    event_type: str, payload: Mapping[str, Any] | None, error: ConnectAuthError
) -> None:
    """Record a refused delivery in its own transaction (best effort)."""
    try:
        with transaction.atomic():
            tenant = None
            key = error.client_key or (payload or {}).get("clientKey")
            if isinstance(key, str):
                tenant = get_tenant_model()._default_manager.filter(client_key=key).first()
            record(event_type, payload, tenant=tenant, error=error, client_key=error.client_key)
    except Exception:  # the refusal itself must still be answered
        logger.exception("could not record a refused %s delivery", event_type)


def now_datetime(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
