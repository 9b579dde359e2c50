"""Re-key app data from the Connect ``clientKey`` to the Forge ``installationId``.

Forge keys everything by installation; Atlassian's clientKey lookup from Forge
ends with Connect (2027-01-31). Add the new column with a migration, then
fill it from the links this package keeps::

    from django_atlassian_connect.adoption.rekey import rekey_by_installation

    report = rekey_by_installation(Note, field="client_key", to_field="installation_id",
                                   dry_run=True)
    print("\\n".join(report.lines()))

Each row gets the installation ARI of its tenant's current installation
(:func:`~django_atlassian_connect.forge.linking.current_installation`, an
uninstalled one included: the data was that installation's). A non-empty
``to_field`` is never overwritten; rows whose clientKey has no linked
installation are counted as unlinked and left alone. One transaction:
all rows or none; ``dry_run`` writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction

from ..codes.forge_adoption import REKEY_CODES
from ..exceptions import ConnectError
from ..forge.linking import current_installation
from ..models import get_tenant_model

__all__ = ["RekeyError", "RekeyReport", "rekey_by_installation"]

#: An installation ARI is 70 characters; ask for room to spare, as the package's own field has.
MIN_TARGET_LENGTH = 255


class RekeyError(ConnectError):
    """The model or a field cannot be re-keyed (``rekey_*`` codes); nothing was changed."""

    codes: ClassVar[frozenset[str] | None] = REKEY_CODES


@dataclass
class RekeyReport:
    """What :func:`rekey_by_installation` did (``dry_run``: would do)."""

    model: str
    dry_run: bool = False
    #: rows whose empty ``to_field`` got (would get) the installation id
    updated: int = 0
    #: rows whose ``to_field`` already held that installation id
    already: int = 0
    #: rows whose ``to_field`` holds another value: kept, never overwritten
    kept: int = 0
    #: clientKeys (with their row count) whose tenant has no Forge installation linked
    unlinked: dict[str, int] = dataclass_field(default_factory=dict)
    #: those of :attr:`unlinked` that are no tenant at all
    unknown: set[str] = dataclass_field(default_factory=set)

    def lines(self) -> list[str]:
        verb = "would be updated" if self.dry_run else "updated"
        out = [
            f"{self.model}: {self.updated} row(s) {verb}, {self.already} already keyed, "
            f"{self.kept} kept (another value already there), "
            f"{sum(self.unlinked.values())} unlinked"
            + (" (dry run: nothing changed)" if self.dry_run else "")
        ]
        out.extend(
            f"  unlinked: {key} ({count} row(s)): "
            + (
                "no tenant has this clientKey"
                if key in self.unknown
                else "no Forge installation linked to its tenant (connect_tenants --link)"
            )
            for key, count in sorted(self.unlinked.items())
        )
        return out


def rekey_by_installation(
    model: type[models.Model],
    field: str = "client_key",
    to_field: str = "installation_id",
    dry_run: bool = False,
) -> RekeyReport:
    """Fill ``model.to_field`` with the installation id of each row's ``field`` (a clientKey).

    Raises :class:`RekeyError` (``rekey_field_unknown``, ``rekey_field_invalid``)
    before touching anything when the fields cannot be used.
    """
    source, target = _check_fields(model, field, to_field)
    report = RekeyReport(model=model._meta.label, dry_run=dry_run)
    manager = model._default_manager
    with transaction.atomic(using=manager.db):
        keys = sorted(
            set(manager.exclude(**{f"{source}__isnull": True}).values_list(source, flat=True))
            - {""}
        )
        targets, tenants = _installation_ids(keys)
        report.unknown = set(keys) - tenants
        for key in keys:
            rows = manager.filter(**{source: key})
            installation_id = targets.get(key)
            if installation_id is None:
                report.unlinked[key] = rows.count()
                continue
            empty = rows.filter(models.Q(**{target: ""}) | models.Q(**{f"{target}__isnull": True}))
            report.already += rows.filter(**{target: installation_id}).count()
            report.kept += rows.exclude(**{target: installation_id}).exclude(pk__in=empty).count()
            # The filter on an empty target is what keeps a value set meanwhile.
            report.updated += (
                empty.count() if dry_run else empty.update(**{target: installation_id})
            )
        if dry_run:
            transaction.set_rollback(True, using=manager.db)
    return report


def _installation_ids(client_keys: list[str]) -> tuple[dict[str, str], set[str]]:
    """(clientKey -> its tenant's current installation ARI, the clientKeys that are tenants)."""
    found: dict[str, str] = {}
    known: set[str] = set()
    for tenant in get_tenant_model()._default_manager.filter(client_key__in=client_keys):
        known.add(tenant.client_key)
        installation = current_installation(tenant)
        if installation is not None:
            found[tenant.client_key] = str(installation.installation_id)
    return found, known


def _check_fields(model: Any, field: str, to_field: str) -> tuple[str, str]:
    """The two fields' attribute names; :class:`RekeyError` naming what is wrong."""
    meta = getattr(model, "_meta", None)
    if meta is None or not isinstance(model, type) or not issubclass(model, models.Model):
        raise RekeyError(
            "rekey_field_unknown",
            f"{model!r} is not a Django model class; nothing was changed.",
            hint="Pass the model class itself, e.g. rekey_by_installation(Note).",
        )
    found = []
    for name in (field, to_field):
        try:
            concrete = meta.get_field(name)
        except FieldDoesNotExist:
            concrete = None
        if concrete is None or not getattr(concrete, "concrete", False) or concrete.is_relation:
            raise RekeyError(
                "rekey_field_unknown",
                f"{meta.label} has no concrete field {name!r} (its fields: "
                f"{', '.join(f.name for f in meta.concrete_fields)}); nothing was changed.",
            )
        found.append(concrete)
    source, target = found
    if source is target:
        raise RekeyError(
            "rekey_field_invalid",
            f"field and to_field are both {field!r}: the clientKey would overwrite itself; "
            "nothing was changed.",
        )
    if not isinstance(target, models.CharField | models.TextField):
        raise RekeyError(
            "rekey_field_invalid",
            f"{meta.label}.{to_field} is a {type(target).__name__}, not a text field; "
            "nothing was changed.",
        )
    length = getattr(target, "max_length", None)
    if isinstance(target, models.CharField) and (length or 0) < MIN_TARGET_LENGTH:
        raise RekeyError(
            "rekey_field_invalid",
            f"{meta.label}.{to_field} holds {length} characters, fewer than "
            f"{MIN_TARGET_LENGTH}; nothing was changed.",
        )
    return source.attname, target.attname
