"""The answers of the endpoints Forge's platform calls besides the lifecycle.

``/forge/events`` (product events), ``/forge/pre-uninstall`` and the data
residency (realm migration) hooks under ``/forge/realm-migration/``, plus the
code the silent-installation report logs. Raised as plain
:class:`~django_atlassian_connect.exceptions.ConnectError` by
:mod:`django_atlassian_connect.forge.product_events` and
:mod:`django_atlassian_connect.forge.realm`; the views answer them with their
status and ``{"detail", "code", "hint"}``.

A 5xx answer (and ``forge_event_in_progress``) makes Forge deliver again;
a realm-migration refusal also carries Forge's ``errorResponseCode`` so that
Forge stops retrying it.
"""

from __future__ import annotations

from .base import Code

_EVENTS_HINT = (
    "Forge delivers a product event as a JSON object whose eventType names it "
    "(avi:<product>:<verb>:<noun>, e.g. avi:jira:created:issue), at the top level or "
    "under 'payload'. Point only the manifest's trigger endpoints at this URL."
)
_HANDLER = 'ATLASSIAN_CONNECT["FORGE_REALM_MIGRATION_HANDLER"]'

FORGE_EVENTS: dict[str, Code] = {
    # -- POST /forge/events --------------------------------------------------------------------
    "forge_event_type_missing": Code(
        400,
        "The event body has no eventType, and not the shape of a Forge lifecycle event "
        "either. Nothing was stored.",
        _EVENTS_HINT,
    ),
    "forge_event_type_invalid": Code(
        400,
        "The event body's eventType is not a Forge event name. Nothing was stored.",
        _EVENTS_HINT,
    ),
    "forge_event_in_progress": Code(
        409,
        "Another delivery of this event is still being handled; this one was not run.",
        "Nothing to do: Forge delivers the event again 60 s later, and that delivery is "
        "acknowledged once the first one has finished. Keep receivers well inside 5 s "
        "(enqueue slow work on Celery).",
    ),
    "forge_event_receiver_failed": Code(
        500,
        "A receiver of this Forge event raised: its database work was rolled back and the "
        "event is not marked delivered.",
        "Forge delivers the event again (up to 4 more times, 60 s apart) and the receivers "
        "run again; the server log has the traceback.",
    ),
    # -- the silent-installation report (a log line's connect_code) --------------------------
    "forge_installation_silent": Code(
        0,
        "A current Forge installation has not invoked the app for longer than "
        "FORGE_SILENT_AFTER_HOURS.",
        "Forge's hourly scheduledTrigger should reach the app: check the manifest's "
        "trigger and endpoint, the remote's baseUrl and the developer console's invocation "
        "errors. A site that uninstalled the app without preUninstall reaching us also "
        "goes silent.",
    ),
    # -- the data residency (realm migration) hooks --------------------------------------------
    "realm_migration_not_supported": Code(
        501,
        "This app does not handle data residency migrations.",
        f"Set {_HANDLER} to the dotted path of a RealmMigrationHandler subclass that moves "
        "the installation's data, or drop migration:dataResidency from the manifest.",
    ),
    "realm_migration_handler_invalid": Code(
        500,
        f"{_HANDLER} does not name a usable RealmMigrationHandler.",
        "Set it to the dotted path of a subclass of "
        "django_atlassian_connect.forge.realm.RealmMigrationHandler; Forge retries the hook.",
    ),
    "realm_migration_phase_unknown": Code(
        404,
        "This is not a realm migration hook: the phases are schedule, start, status, commit "
        "and rollback.",
        "Point the manifest's migration:dataResidency path at the prefix "
        "(/forge/realm-migration); Forge appends the phase.",
    ),
    "realm_migration_payload_invalid": Code(
        400,
        "The realm migration hook's body is unusable. Nothing was stored.",
        "Forge sends a JSON object with migrationId (and location, startTime, endTime "
        "for schedule and start); status takes ?migrationId=.",
    ),
    "realm_migration_out_of_order": Code(
        409,
        "This realm migration hook does not follow the migration's previous step. Nothing "
        "was changed.",
        "The order is schedule, start, (status), then commit or rollback; a hook for a "
        "migration that was never scheduled here, or already ended, is refused.",
    ),
    "realm_migration_refused": Code(
        409,
        "The realm migration handler refused this step.",
        "The answer carries the errorResponseCode the handler chose; Forge marks the "
        "migration failed and sends rollback.",
    ),
    "realm_migration_failed": Code(
        500,
        "The realm migration handler raised: this step was rolled back.",
        "Forge retries the hook up to 2 times, 5 s apart; the server log has the traceback.",
    ),
}

FORGE_EVENT_CODES = frozenset(FORGE_EVENTS)
