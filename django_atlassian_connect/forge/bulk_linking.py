"""Link every unlinked Forge installation that can be linked (``connect_tenants --link``).

The rules are those of :mod:`.linking` and :func:`.installations.link_by_app_property`,
strongest proof first, tried for each installation with no tenant:

1. ``connect_install``: a tenant's signed Connect install named this id;
2. ``app_property``: the gateway's reserved clientKey property names an
   installed tenant (read with the stored system token: a GET, nothing written);
3. ``cloud_id``: exactly one installed tenant of the same product and cloudId.

Never by site URL. Superseded and uninstalled installations are reported and
left alone. ``dry_run`` decides the same way and writes nothing::

    for outcome in link_unlinked(dry_run=True):
        print(outcome.line())
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from ..exceptions import ConnectClientError
from ..models import AbstractTenant, ForgeInstallation, get_tenant_model
from . import linking
from .installations import connect_client_key

__all__ = ["LinkOutcome", "link_unlinked"]

logger = logging.getLogger("django_atlassian_connect")

Method = ForgeInstallation.LinkMethod


@dataclass(frozen=True)
class LinkOutcome:
    """What happened to (``dry_run``: would happen to) one unlinked installation."""

    installation_id: str
    product: str
    cloud_id: str
    tenant: AbstractTenant | None = None
    method: str = ""
    #: why it was not linked, or what was noticed on the way (an unreadable app property)
    reason: str = ""
    dry_run: bool = False

    @property
    def linked(self) -> bool:
        return self.tenant is not None

    def line(self) -> str:
        """One tab-separated line: installation, product and cloudId, the outcome."""
        where = f"{self.product or '-'} {self.cloud_id or '-'}"
        if self.tenant is None:
            return f"{self.installation_id}\t{where}\tnot linkable: {self.reason}"
        verb = "would link" if self.dry_run else "linked"
        note = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.installation_id}\t{where}\t{verb} to {self.tenant.client_key} "
            f"({self.tenant.base_url}) by {self.method}{note}"
        )


def link_unlinked(*, dry_run: bool = False, now: float | None = None) -> list[LinkOutcome]:
    """Try to link every installation without a tenant; one :class:`LinkOutcome` each.

    Each link is its own transaction under the installation's row lock; an
    installation linked meanwhile by another process is reported and kept.
    With ``dry_run`` nothing is written (the app property is still read).
    """
    rows = ForgeInstallation._default_manager.filter(tenant__isnull=True).order_by(
        "installation_id"
    )
    return [_link_one(row, dry_run=dry_run, now=now) for row in rows]


def _link_one(row: ForgeInstallation, *, dry_run: bool, now: float | None) -> LinkOutcome:
    base: dict[str, Any] = {
        "installation_id": row.installation_id,
        "product": row.product,
        "cloud_id": row.cloud_id,
    }
    if row.uninstalled_at is not None:
        reason = f"uninstalled at {row.uninstalled_at:%Y-%m-%dT%H:%M:%SZ}; nothing to link"
        return LinkOutcome(**base, reason=reason, dry_run=dry_run)
    if row.superseded_at is not None:
        return LinkOutcome(**base, reason="superseded by a newer installation", dry_run=dry_run)
    tenant, method, notes = _find_tenant(row)
    if tenant is None:
        return LinkOutcome(**base, reason="; ".join(notes), dry_run=dry_run)
    note = "; ".join(notes)
    if dry_run:
        return LinkOutcome(**base, tenant=tenant, method=method, reason=note, dry_run=True)
    with transaction.atomic():
        locked, _ = linking.lock_installation(row.installation_id)
        if locked is None or locked.tenant_id is not None:
            return LinkOutcome(**base, reason="linked meanwhile by another process; kept")
        changed = linking.link(locked, tenant, method, linking.as_datetime(now))
        if changed:
            locked.save(update_fields=changed)
    return LinkOutcome(**base, tenant=tenant, method=method, reason=note)


def _find_tenant(row: ForgeInstallation) -> tuple[AbstractTenant | None, str, list[str]]:
    """``(tenant, method, notes)``: the strongest proof found, and why the others failed."""
    tenant = linking.tenant_by_connect_install(row.installation_id)
    if tenant is not None:
        return tenant, Method.CONNECT_INSTALL, []
    notes = ["no signed Connect install names it"]
    tenant, note = _by_app_property(row)
    if tenant is not None:
        return tenant, Method.APP_PROPERTY, []
    notes.append(note)
    tenant = linking.tenant_by_cloud_id(row)
    if tenant is not None:
        return tenant, Method.CLOUD_ID, notes[1:]
    if not row.cloud_id or not row.product:
        notes.append("its cloudId and product are not known yet (no invocation seen)")
    else:
        notes.append(f"not exactly one installed {row.product} tenant has cloudId {row.cloud_id}")
    return None, "", notes


def _by_app_property(row: ForgeInstallation) -> tuple[AbstractTenant | None, str]:
    """The installed tenant the clientKey app property names, or why there is none."""
    if not row.api_base_url:
        return None, "the app property cannot be read before an invocation brings apiBaseUrl"
    try:
        client_key = connect_client_key(row)
    except ConnectClientError as exc:  # nothing changed; the cloudId rule may still apply
        logger.warning(
            "connect_tenants --link: %s: app property not read (%s)", row.installation_id, exc.code
        )
        return None, f"the app property could not be read ({exc.code}: {exc.detail})"
    if client_key is None:
        return None, "the gateway has no clientKey app property for it"
    tenant = (
        get_tenant_model()._default_manager.filter(client_key=client_key, is_installed=True).first()
    )
    if tenant is None:
        return None, f"the app property names clientKey {client_key}, no installed tenant here"
    return tenant, ""
