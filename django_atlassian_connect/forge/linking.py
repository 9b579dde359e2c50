"""Which Connect tenant a Forge installation belongs to, from facts already stored.

Links are made from proof, strongest first, and never from a site URL (it
changes on rename, and mixing two tenants leaks data):

1. ``connect_install``: the tenant's signed Connect ``installed`` carried
   this ``installationId`` (:func:`link_connect_install` from the install
   flow; :func:`tenant_by_connect_install` for tenants installed before the
   installation was first seen).
2. ``cloud_id``: exactly one installed tenant is already linked to another
   installation of the same app, product and cloudId (a reinstall brought a
   new installation id and no new Connect ``installed``). The Connect install
   payload carries no cloudId, so a tenant's cloudId is known only through an
   installation already linked to it: this rule never makes a first link.
3. ``app_property`` (in :mod:`.installations`): the reserved app property the
   gateway answers with the installation's own system token.

A stronger method may move a link to another tenant; a weaker one never does.
Linking an installation to a tenant marks the tenant's other installations
``superseded_at`` (kept as history), except the one the tenant's latest signed
install names, which only a signed install demotes.

A tenant's Connect ``uninstalled`` marks its current installations
``uninstalled_at`` (:func:`mark_tenant_uninstalled`); a later signed install
clears that only on the installation whose id it names. The bulk run over
unlinked installations is :mod:`.bulk_linking`.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, cast

from django.db import transaction
from django.db.models import F

from ..models import AbstractTenant, ForgeInstallation, get_tenant_model
from ..models.locking import lock_or_create
from . import ids

logger = logging.getLogger("django_atlassian_connect")

Method = ForgeInstallation.LinkMethod
#: How much each link method proves: a link is only ever replaced by one at least as strong.
STRENGTH = {
    Method.NONE: 0,
    Method.CLOUD_ID: 1,
    Method.APP_PROPERTY: 2,
    Method.MANUAL: 3,
    Method.CONNECT_INSTALL: 4,
}
LINK_FIELDS = ["tenant", "link_method", "linked_at", "superseded_at"]


def as_datetime(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)


def id_forms(installation_id: str) -> list[str]:
    """The ARI and the bare uuid: a Connect payload may carry either."""
    return [installation_id, installation_id.removeprefix(ids.INSTALLATION_PREFIX)]


def lock_installation(
    installation_id: str, create_with: dict[str, Any] | None = None
) -> tuple[ForgeInstallation | None, bool]:
    """Lock the installation's row (in the caller's transaction); create it with ``create_with``.

    Two first invocations racing for one installation: the loser's INSERT
    fails on the unique constraint (in a savepoint) and it locks the winner's
    row instead (:func:`~django_atlassian_connect.models.locking.lock_or_create`).
    """
    manager = ForgeInstallation._default_manager
    return lock_or_create(manager, {"installation_id": installation_id}, create_with)


def tenant_by_connect_install(installation_id: str) -> AbstractTenant | None:
    """Rule 1: the tenant whose latest signed install carried this installation id."""
    manager = get_tenant_model()._default_manager
    found = list(manager.filter(installation_id__in=id_forms(installation_id))[:2])
    if len(found) > 1:
        logger.warning(
            "forge installation %s named by the signed installs of several tenants (%s); not linked",
            installation_id,
            ", ".join(t.client_key for t in found),
        )
        return None
    return found[0] if found else None


def tenant_by_cloud_id(row: ForgeInstallation) -> AbstractTenant | None:
    """Rule 2: the one installed tenant of this site: its signed install carried this
    cloudId, or it is linked to another installation of this site and product."""
    if not row.cloud_id or not row.product:
        return None
    others = ForgeInstallation._default_manager.filter(
        cloud_id=row.cloud_id,
        product=row.product,
        tenant__isnull=False,
        tenant__is_installed=True,
    ).exclude(pk=row.pk)
    if row.app_id:
        others = others.filter(app_id=row.app_id)
    # One site hosts Jira and Confluence, each its own Connect tenant: match the product.
    signed = (
        get_tenant_model()
        ._default_manager.filter(cloud_id=row.cloud_id, product_type=row.product, is_installed=True)
        .values_list("pk", flat=True)
    )
    tenant_ids = sorted(set(others.values_list("tenant_id", flat=True)) | set(signed))
    if len(tenant_ids) != 1:
        if tenant_ids:
            logger.warning(
                "forge installation %s: %d installed tenants share cloudId %s; not linked",
                row.installation_id,
                len(tenant_ids),
                row.cloud_id,
            )
        return None
    return get_tenant_model()._default_manager.filter(pk=tenant_ids[0]).first()


def link(row: ForgeInstallation, tenant: AbstractTenant, method: str, when: datetime) -> list[str]:
    """Link ``row`` (locked) to ``tenant`` by ``method``; the fields to save (none: unchanged)."""
    current = Method(row.link_method or Method.NONE)
    renamed = method == Method.CONNECT_INSTALL and row.superseded_at is not None
    if row.tenant_id == tenant.pk and STRENGTH[Method(method)] <= STRENGTH[current] and not renamed:
        return []
    if row.tenant_id not in (None, tenant.pk):
        if STRENGTH[Method(method)] < STRENGTH[current]:
            logger.warning(
                "forge installation %s stays linked to tenant %s (%s); %s names tenant %s",
                row.installation_id,
                row.tenant_id,
                current,
                method,
                tenant.client_key,
            )
            return []
        logger.warning(
            "forge installation %s moves from tenant %s to %s (%s)",
            row.installation_id,
            row.tenant_id,
            tenant.client_key,
            method,
        )
    row.tenant = cast(Any, tenant)  # the swappable model: typed as the default one
    row.link_method = method
    row.linked_at = when
    if method == Method.CONNECT_INSTALL:
        row.superseded_at = None  # the tenant's signed install names it: it is the current one
    _supersede_others(row, tenant, method, when)
    logger.info(
        "forge installation %s linked to tenant %s (%s)",
        row.installation_id,
        tenant.client_key,
        method,
    )
    return list(LINK_FIELDS)


def _supersede_others(
    row: ForgeInstallation, tenant: AbstractTenant, method: str, when: datetime
) -> None:
    others = ForgeInstallation._default_manager.filter(
        tenant_id=tenant.pk, superseded_at__isnull=True
    ).exclude(installation_id=row.installation_id)
    if method != Method.CONNECT_INSTALL and tenant.installation_id:
        # Only a signed install says which id is the tenant's latest.
        others = others.exclude(installation_id__in=_named_by(tenant))
    others.update(superseded_at=when)


def _named_by(tenant: AbstractTenant) -> list[str]:
    try:
        return id_forms(ids.normalise_installation_id(tenant.installation_id))
    except ValueError:
        return [tenant.installation_id]


def link_from_stored_facts(row: ForgeInstallation, when: datetime) -> list[str]:
    """Rules 1 then 2 for an unlinked row (locked); the fields to save."""
    if row.tenant_id is not None:
        return []
    tenant = tenant_by_connect_install(row.installation_id)
    if tenant is not None:
        return link(row, tenant, Method.CONNECT_INSTALL, when)
    tenant = tenant_by_cloud_id(row)
    if tenant is not None:
        return link(row, tenant, Method.CLOUD_ID, when)
    return []


def link_connect_install(
    tenant: AbstractTenant, installation_id: str, *, now: float | None = None
) -> ForgeInstallation:
    """Record that ``tenant``'s signed Connect ``installed`` carried ``installation_id``.

    Call it inside the install's transaction, under the tenant's row lock. The
    installation's row is created if no invocation was seen yet. A reinstall
    that brings a new id links the new row and marks the tenant's previous
    ones ``superseded_at``. ``ValueError`` when ``installation_id`` is not an
    installation ARI (or bare uuid).
    """
    installation_id = ids.normalise_installation_id(installation_id)
    when = as_datetime(now)
    with transaction.atomic():
        row, _ = lock_installation(installation_id, create_with={})
        assert row is not None
        changed = link(row, tenant, Method.CONNECT_INSTALL, when)
        if row.uninstalled_at is not None:
            # A signed install naming this very id proves it is installed again; a
            # reinstall with another id leaves this row uninstalled (and superseded).
            logger.info(
                "forge installation %s installed again (signed install of %s)",
                installation_id,
                tenant.client_key,
            )
            row.uninstalled_at = None
            changed = [*changed, "uninstalled_at"]
        if changed:
            row.save(update_fields=changed)
    return row


def mark_tenant_uninstalled(tenant: AbstractTenant, *, now: float | None = None) -> list[str]:
    """The tenant's Connect ``uninstalled``: its current Forge installations are uninstalled too.

    Call it inside the uninstall's transaction (the tenant's row is locked).
    Sets ``uninstalled_at`` on the tenant's linked installations that are
    neither superseded nor uninstalled already; housekeeping and ``ForgeClient``
    then leave them alone. Returns their installation ids.
    """
    rows = ForgeInstallation._default_manager.filter(
        tenant_id=tenant.pk, superseded_at__isnull=True, uninstalled_at__isnull=True
    )
    marked = sorted(rows.values_list("installation_id", flat=True))
    if marked:
        ForgeInstallation._default_manager.filter(installation_id__in=marked).update(
            uninstalled_at=as_datetime(now)
        )
        logger.info(
            "forge installation(s) %s uninstalled with Connect tenant %s",
            ", ".join(marked),
            tenant.client_key,
        )
    return marked


def current_installation(
    tenant: AbstractTenant, *, active: bool = False
) -> ForgeInstallation | None:
    """The tenant's current Forge installation (``None``: none linked).

    Not superseded and, with ``active``, not uninstalled. Where several
    qualify, the one the tenant's latest signed install names, then the one
    linked last.
    """
    rows = ForgeInstallation._default_manager.filter(
        tenant_id=tenant.pk, superseded_at__isnull=True
    )
    if active:
        rows = rows.filter(uninstalled_at__isnull=True)
    found = list(rows.order_by(F("linked_at").desc(nulls_last=True), "-pk")[:10])
    named = set(_named_by(tenant)) if tenant.installation_id else set()
    return next((r for r in found if r.installation_id in named), found[0] if found else None)
