"""Data residency (realm) migrations of a Forge Remote: the hooks Forge calls, in order.

When a customer moves their site to another region, Forge's migration
service calls the remote named by the manifest's ``migration:dataResidency``
module, under its ``path`` (``/forge/realm-migration``; Forge appends the
phase), with a FIT like any invocation:

- ``POST schedule`` ``{"startTime", "endTime", "location", "migrationId"}``:
  prepare;
- ``POST start`` (same body): the site is offline, copy the data;
- ``GET status?migrationId=``: answer ``{"status": "ready-to-commit"}``,
  ``{"status": "failed", "errorResponseCode": "E0004"}`` or any other status
  (still running), polled every 5 minutes;
- ``POST commit`` ``{"migrationId"}``: switch to the copy in the new region;
- ``POST rollback`` ``{"migrationId"}``: drop the copy, stay where you were
  (also sent when an earlier hook failed, or the customer cancelled).

A non-2xx answer without ``errorResponseCode`` is retried twice, 5 s apart;
one with it fails the migration at once (then ``rollback``). Codes: E0001 not
scheduled, E0002 region not supported, E0003 migrations not supported, E0004
too many concurrent migrations, E9999 anything else.

The work is the project's: ``FORGE_REALM_MIGRATION_HANDLER`` names a
:class:`RealmMigrationHandler` subclass. This module is the handler's API and
reads the hooks' requests; :mod:`.realm_steps` keeps each migration's step
in :class:`~django_atlassian_connect.models.ForgeRealmMigration` and runs
the handler in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.module_loading import import_string

from ..conf import connect_settings
from ..exceptions import ConnectError
from ..models import ForgeRealmMigration
from .context import ForgeContext

__all__ = [
    "PHASES",
    "RealmMigrationHandler",
    "RealmMigrationRefused",
    "RealmMigrationRequest",
    "RealmStatus",
    "get_handler",
    "parse_request",
]

#: phase -> the HTTP method Forge calls it with.
PHASES = {
    "schedule": "POST",
    "start": "POST",
    "status": "GET",
    "commit": "POST",
    "rollback": "POST",
}
READY_TO_COMMIT = "ready-to-commit"
FAILED = "failed"
ERROR_RESPONSE_CODES = frozenset({"E0001", "E0002", "E0003", "E0004", "E9999"})


@dataclass(frozen=True)
class RealmMigrationRequest:
    """What a hook asked: ``migration_id`` is ``None`` only for ``status`` without one."""

    phase: str
    migration_id: str | None
    location: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class RealmStatus:
    """A handler's answer to ``status``: ``ready-to-commit``, ``failed`` (with an
    ``error_response_code``) or any status of its own (still running)."""

    status: str
    error_response_code: str | None = None


class RealmMigrationRefused(Exception):
    """Raise it from a handler to fail the step with Forge's ``errorResponseCode``
    (Forge does not retry it and sends ``rollback``)."""

    def __init__(self, error_response_code: str = "E9999", detail: str = "") -> None:
        if error_response_code not in ERROR_RESPONSE_CODES:
            raise ValueError(f"errorResponseCode is one of {sorted(ERROR_RESPONSE_CODES)}")
        super().__init__(detail or error_response_code)
        self.error_response_code = error_response_code
        self.detail = detail


class RealmMigrationHandler:
    """The project's side of a realm migration; subclass it and name it in
    ``FORGE_REALM_MIGRATION_HANDLER``.

    Each method gets the :class:`~django_atlassian_connect.models.ForgeRealmMigration`
    row (``migration.installation``, ``migration_id``, ``location``,
    ``window_start``, ``window_end``) and the verified :class:`ForgeContext`;
    it runs inside the step's transaction. Answer fast: enqueue the copy on
    Celery in ``start`` (with ``transaction.on_commit``) and report its
    progress from ``status``. Raise :class:`RealmMigrationRefused` to fail a
    step with a Forge error code, any other exception to have Forge retry it.
    """

    def schedule(self, migration: ForgeRealmMigration, context: ForgeContext) -> None:
        """Prepare (the default does nothing)."""

    def start(self, migration: ForgeRealmMigration, context: ForgeContext) -> None:
        raise NotImplementedError("RealmMigrationHandler.start")

    def status(self, migration: ForgeRealmMigration, context: ForgeContext) -> RealmStatus | str:
        raise NotImplementedError("RealmMigrationHandler.status")

    def commit(self, migration: ForgeRealmMigration, context: ForgeContext) -> None:
        raise NotImplementedError("RealmMigrationHandler.commit")

    def rollback(self, migration: ForgeRealmMigration, context: ForgeContext) -> None:
        """Drop the copy (the default does nothing: nothing was copied)."""


def get_handler() -> RealmMigrationHandler:
    """An instance of the class ``FORGE_REALM_MIGRATION_HANDLER`` names.

    ``realm_migration_not_supported`` (501) when unset,
    ``realm_migration_handler_invalid`` (500) when it names no handler class.
    """
    path = connect_settings.FORGE_REALM_MIGRATION_HANDLER
    if not path:
        raise ConnectError("realm_migration_not_supported", error_response_code="E0003")
    try:
        handler = import_string(path) if isinstance(path, str) else path
    except ImportError as exc:
        raise ConnectError(
            "realm_migration_handler_invalid",
            f"FORGE_REALM_MIGRATION_HANDLER {path!r} cannot be imported ({exc}).",
        ) from exc
    if not (isinstance(handler, type) and issubclass(handler, RealmMigrationHandler)):
        raise ConnectError(
            "realm_migration_handler_invalid",
            f"FORGE_REALM_MIGRATION_HANDLER {path!r} is not a RealmMigrationHandler subclass.",
        )
    return handler()


# -- the request ------------------------------------------------------------------------------


def _invalid(detail: str) -> ConnectError:
    return ConnectError(
        "realm_migration_payload_invalid",
        f"{detail} Nothing was stored.",
        error_response_code="E9999",
    )


def _migration_id(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 64 and value.replace("-", "").isalnum():
        return value
    raise _invalid(f"The {where} has no usable migrationId (a number or a short id).")


def _time(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"The body's {name} {str(value)[:40]!r} is not an ISO 8601 time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_request(phase: str, data: Any, query: dict[str, str]) -> RealmMigrationRequest:
    """The hook's request: ``data`` the JSON body (``None`` if there is none), ``query``
    the query string; ``realm_migration_payload_invalid`` (400) when unusable."""
    if phase == "status":
        given = query.get("migrationId")
        return RealmMigrationRequest(phase, _migration_id(given, "query") if given else None)
    if not isinstance(data, dict):
        raise _invalid(f"The {phase} body is not a JSON object.")
    migration_id = _migration_id(data.get("migrationId"), "body")
    if phase not in ("schedule", "start"):
        return RealmMigrationRequest(phase, migration_id)
    location = data.get("location")
    if not isinstance(location, str) or not 0 < len(location) <= 32:
        raise _invalid(f"The {phase} body has no location (the target region, e.g. EU).")
    return RealmMigrationRequest(
        phase, migration_id, location, _time(data, "startTime"), _time(data, "endTime")
    )
