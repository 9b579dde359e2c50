"""The steps of a data residency (realm) migration, in order, one transaction each.

:func:`run` records the invocation, keeps each migration's step in
:class:`~django_atlassian_connect.models.ForgeRealmMigration` and calls the
project's :class:`~.realm.RealmMigrationHandler` inside the step's
transaction: a step out of order is ``realm_migration_out_of_order`` (409,
nothing changed), a repeated one (Forge retries) is answered again without
calling the handler, and a handler that raises leaves nothing recorded.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest

from ..exceptions import ConnectError, ForgeAuthError
from ..models import ForgeInstallation, ForgeRealmMigration
from ..models.locking import lock_or_create
from . import events
from .context import ForgeContext
from .realm import RealmMigrationHandler, RealmMigrationRefused, RealmMigrationRequest, RealmStatus

__all__ = ["run"]

logger = logging.getLogger("django_atlassian_connect")

State = ForgeRealmMigration.State


def _out_of_order(detail: str, code: str = "E9999") -> ConnectError:
    return ConnectError(
        "realm_migration_out_of_order", f"{detail} Nothing was changed.", error_response_code=code
    )


def _call(step: Any, migration: ForgeRealmMigration, context: ForgeContext) -> Any:
    """Run a handler method; its exceptions become coded errors (the transaction rolls back)."""
    try:
        return step(migration, context)
    except RealmMigrationRefused as refused:
        raise ConnectError(
            "realm_migration_refused",
            refused.detail or None,
            error_response_code=refused.error_response_code,
        ) from refused
    except Exception as exc:
        logger.exception(
            "forge realm migration %s of %s: the handler raised (%s); rolled back",
            migration.migration_id,
            context.installation_id,
            type(exc).__name__,
            extra={"connect_code": "realm_migration_failed"},
        )
        raise ConnectError("realm_migration_failed") from exc


def _answer(row: ForgeRealmMigration, context: ForgeContext, **extra: Any) -> dict[str, Any]:
    return {
        "installationId": context.installation_id,
        "migrationId": row.migration_id,
        "state": row.state,
        **extra,
    }


def run(
    request: RealmMigrationRequest,
    handler: RealmMigrationHandler,
    context: ForgeContext,
    http_request: HttpRequest | None = None,
) -> dict[str, Any]:
    """Record the invocation and run one step in one transaction; the answer's JSON body.

    ``ConnectError`` (``realm_migration_out_of_order``, ``..._refused``,
    ``..._failed``) rolls back everything, the invocation's record included;
    a database failure is ``database_unavailable`` (503: Forge retries).
    """
    try:
        return _run(request, handler, context, http_request)
    except DatabaseError as exc:
        raise ForgeAuthError(
            "database_unavailable",
            f"The database failed during realm migration {request.phase} "
            f"({type(exc).__name__}); nothing was changed.",
            installation_id=context.installation_id,
        ) from exc


def _run(
    request: RealmMigrationRequest,
    handler: RealmMigrationHandler,
    context: ForgeContext,
    http_request: HttpRequest | None,
) -> dict[str, Any]:
    now = datetime.now(tz=UTC)
    with transaction.atomic():
        installation = events.admit(context, http_request)
        if request.phase == "status":
            return _status(request, handler, installation, context)
        lookup = {"installation": installation, "migration_id": request.migration_id}
        manager = ForgeRealmMigration._default_manager
        create: dict[str, Any] | None = None
        if request.phase == "schedule":
            create = {
                "state": State.SCHEDULED,
                "location": request.location,
                "window_start": request.start_time,
                "window_end": request.end_time,
                "scheduled_at": now,
            }
        elif request.phase == "rollback":  # after a failed schedule: nothing recorded yet
            create = {"state": State.ROLLED_BACK, "ended_at": now}
        row, created = lock_or_create(manager, lookup, create)
        if row is None:
            raise _out_of_order(
                f"Realm migration {request.migration_id} was never scheduled for installation "
                f"{context.installation_id}: {request.phase} refused.",
                "E0001",
            )
        return _step(request, handler, row, created, context, now)


_DONE_STATE = {
    "schedule": State.SCHEDULED,
    "start": State.STARTED,
    "commit": State.COMMITTED,
    "rollback": State.ROLLED_BACK,
}
#: phase -> the states it may follow
_AFTER = {
    "schedule": (),
    "start": (State.SCHEDULED,),
    "commit": (State.STARTED,),
    "rollback": (State.SCHEDULED, State.STARTED),
}


def _step(
    request: RealmMigrationRequest,
    handler: RealmMigrationHandler,
    row: ForgeRealmMigration,
    created: bool,
    context: ForgeContext,
    now: datetime,
) -> dict[str, Any]:
    phase = request.phase
    done = _DONE_STATE[phase]
    if not created and row.state == done:
        logger.info(
            "forge realm migration %s of %s: %s repeated, answered again",
            row.migration_id,
            context.installation_id,
            phase,
        )
        return _answer(row, context)
    if not created and row.state not in _AFTER[phase]:
        raise _out_of_order(
            f"Realm migration {row.migration_id} of installation {context.installation_id} is "
            f"{row.state}: {phase} cannot follow it."
        )
    if phase == "start":
        row.location = request.location or row.location
        row.window_start = request.start_time or row.window_start
        row.window_end = request.end_time or row.window_end
        row.started_at = now
    elif phase in ("commit", "rollback"):
        row.ended_at = now
    row.state = done
    _call(getattr(handler, phase), row, context)
    row.save()
    logger.info(
        "forge realm migration %s of %s: %s (to %s)",
        row.migration_id,
        context.installation_id,
        phase,
        row.location or "-",
    )
    return _answer(row, context)


def _status(
    request: RealmMigrationRequest,
    handler: RealmMigrationHandler,
    installation: ForgeInstallation,
    context: ForgeContext,
) -> dict[str, Any]:
    migrations = ForgeRealmMigration._default_manager.filter(installation=installation)
    if request.migration_id is not None:
        migrations = migrations.filter(migration_id=request.migration_id)
    row = migrations.order_by("-pk").first()
    if row is None:
        named = f" {request.migration_id}" if request.migration_id else ""
        raise _out_of_order(
            f"No realm migration{named} was scheduled for installation {context.installation_id}.",
            "E0001",
        )
    if row.state != State.STARTED:  # nothing is running: the recorded step is the status
        return _answer(row, context, status=row.state)
    answer = _call(handler.status, row, context)
    if isinstance(answer, str):
        answer = RealmStatus(answer)
    if not isinstance(answer, RealmStatus) or not answer.status:
        logger.error("forge realm migration status: the handler answered %r", type(answer))
        raise ConnectError("realm_migration_failed")
    extra: dict[str, Any] = {"status": answer.status}
    if answer.error_response_code:
        extra["errorResponseCode"] = answer.error_response_code
    return _answer(row, context, **extra)
