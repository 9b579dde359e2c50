"""``forge_manifest --status``: what stands between this app and "fully adopted".

Like Atlassian's adoption status report: the Connect modules still in the
manifest (per type), the Connect scopes still asked for, and, from the database,
the installed Connect tenants no Forge installation is linked to and the Forge
installations linked to no tenant (the clientKey mapping Atlassian asks for before
Connect's end of support). Read only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..forge.installations import tenants_not_linked
from ..models import ForgeInstallation
from .scopes import declared_scopes, is_connect_scope


@dataclass
class AdoptionStatus:
    """What is left; :meth:`lines` is the report, one item per line."""

    modules: dict[str, int] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)
    #: ``(clientKey, baseUrl)`` of installed tenants with no current Forge installation.
    unlinked_tenants: list[tuple[str, str]] = field(default_factory=list)
    #: ``(installation id, product, cloudId)`` of Forge installations linked to no tenant.
    unlinked_installations: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def fully_adopted(self) -> bool:
        return not (
            self.modules or self.scopes or self.unlinked_tenants or self.unlinked_installations
        )

    def lines(self) -> list[str]:
        out = [f"Connect modules left: {sum(self.modules.values())}"]
        out += [f"  {kind}: {count}" for kind, count in self.modules.items()]
        out.append(f"Connect scopes left: {len(self.scopes)}")
        out += [f"  {scope}" for scope in self.scopes]
        out.append(
            f"Connect tenants with no linked Forge installation: {len(self.unlinked_tenants)}"
        )
        out += [f"  {key} {url}" for key, url in self.unlinked_tenants]
        out.append(
            f"Forge installations not linked to a tenant: {len(self.unlinked_installations)}"
        )
        out += [
            f"  {iid} {product or '-'} {cloud or '-'}"
            for iid, product, cloud in self.unlinked_installations
        ]
        if self.fully_adopted:
            out.append("Fully adopted: no Connect module, scope or unlinked installation is left.")
        else:
            left = [
                f"{sum(self.modules.values())} Connect module(s)",
                f"{len(self.scopes)} Connect scope(s)",
                f"{len(self.unlinked_tenants)} tenant(s) not linked",
                f"{len(self.unlinked_installations)} Forge installation(s) not linked",
            ]
            out.append("Not fully adopted: " + ", ".join(left) + ".")
        return out


def adoption_status(manifest: Mapping[str, Any]) -> AdoptionStatus:
    """The adoption status of ``manifest`` (a mapping read from manifest.yml) and the database."""
    status = AdoptionStatus()
    connect_modules = manifest.get("connectModules")
    if isinstance(connect_modules, Mapping):
        for kind in sorted(connect_modules):
            items = connect_modules[kind]
            status.modules[str(kind)] = len(items) if isinstance(items, list) else 1
    permissions = manifest.get("permissions")
    scopes = permissions.get("scopes") if isinstance(permissions, Mapping) else None
    status.scopes = [s for s in declared_scopes(scopes) if is_connect_scope(s)]
    status.unlinked_tenants = [
        (t.client_key, t.base_url) for t in tenants_not_linked().order_by("client_key")
    ]
    status.unlinked_installations = list(
        ForgeInstallation._default_manager.filter(
            tenant__isnull=True, uninstalled_at__isnull=True, superseded_at__isnull=True
        )
        .order_by("installation_id")
        .values_list("installation_id", "product", "cloud_id")
    )
    return status
