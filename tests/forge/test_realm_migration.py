"""The data residency (realm migration) hooks: verified, in order, run by the project's handler.

The simulated platform calls them as Forge's migration service does
(``realm_hook``: retried twice unless the answer has an ``errorResponseCode``;
``migrate_realm``: the whole flow) through Django's test client.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from django.urls import include, path, reverse

from django_atlassian_connect.forge.realm import (
    RealmMigrationHandler,
    RealmMigrationRefused,
    RealmStatus,
)
from django_atlassian_connect.models import ForgeInstallation, ForgeRealmMigration
from tests.conftest import assert_refused

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [path("forge/", include("django_atlassian_connect.forge.urls"))]

HANDLER = f"{__name__}.Recording"


class Recording(RealmMigrationHandler):
    """Records ``(phase, installation id, migration id, location)``; ``plan`` scripts answers."""

    calls: ClassVar[list[tuple[str, str, str, str]]] = []
    #: phase -> list of outcomes, used in turn: an exception to raise or a status to answer
    plan: ClassVar[dict[str, list[Any]]] = {}

    def _record(self, phase: str, migration: ForgeRealmMigration) -> Any:
        self.calls.append(
            (
                phase,
                migration.installation.installation_id,
                migration.migration_id,
                migration.location,
            )
        )
        outcomes = self.plan.get(phase)
        outcome = outcomes.pop(0) if outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def schedule(self, migration, context):
        self._record("schedule", migration)

    def start(self, migration, context):
        self._record("start", migration)

    def status(self, migration, context):
        return self._record("status", migration) or RealmStatus("ready-to-commit")

    def commit(self, migration, context):
        self._record("commit", migration)

    def rollback(self, migration, context):
        self._record("rollback", migration)


class NotAHandler:
    pass


@pytest.fixture
def handler(settings, forge_host, db):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_REALM_MIGRATION_HANDLER": HANDLER,
    }
    Recording.calls = []
    Recording.plan = {}
    return Recording


def phases(log) -> list[tuple[str, list[int | None]]]:
    return [(phase, [a.status for a in attempts]) for phase, attempts in log]


def state(migration_id: int) -> str:
    return ForgeRealmMigration.objects.get(migration_id=str(migration_id)).state


def call(client, forge_host, method: str, url: str, body: Any = None, fit: str | None = None):
    sent = forge_host.invocation_headers(kind="event", module_key="forge-realm", fit=fit)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in sent.items()}
    if method == "GET":
        return client.get(url, **meta)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **meta)


# -- the flow ------------------------------------------------------------------------------------


def test_the_urls_are_named():
    for phase in ("schedule", "start", "status", "commit", "rollback"):
        url = reverse("atlassian_connect_forge:realm_migration", kwargs={"phase": phase})
        assert url == f"/forge/realm-migration/{phase}"


def test_a_migration_runs_schedule_start_status_commit(forge_host, handler):
    installation = forge_host.installation()
    log = forge_host.migrate_realm(location="EU", migration_id=57500)
    assert phases(log) == [
        ("schedule", [200]),
        ("start", [200]),
        ("status", [200]),
        ("commit", [200]),
    ]
    assert [c[0] for c in handler.calls] == ["schedule", "start", "status", "commit"]
    assert {c[1:] for c in handler.calls} == {(installation.id, "57500", "EU")}
    answers = [attempts[-1].response.json() for _, attempts in log]
    assert all(a["installationId"] == installation.id for a in answers)
    assert answers[2]["status"] == "ready-to-commit"
    assert answers[3] == {
        "installationId": installation.id,
        "migrationId": "57500",
        "state": "committed",
    }
    row = ForgeRealmMigration.objects.get()
    assert row.installation.installation_id == installation.id and row.state == "committed"
    assert row.window_start and row.window_end and row.scheduled_at and row.started_at
    assert row.ended_at


def test_status_is_polled_until_ready(forge_host, handler):
    handler.plan = {"status": ["copying", RealmStatus("copying 80%")]}
    log = forge_host.migrate_realm(migration_id=1, polls=5)
    assert [p for p, _ in log] == ["schedule", "start", "status", "status", "status", "commit"]
    assert state(1) == "committed"


def test_a_failed_status_is_rolled_back(forge_host, handler):
    handler.plan = {"status": [RealmStatus("failed", "E0004")]}
    log = forge_host.migrate_realm(migration_id=2)
    assert [p for p, _ in log] == ["schedule", "start", "status", "rollback"]
    assert log[2][1][-1].response.json()["errorResponseCode"] == "E0004"
    assert state(2) == "rolled_back"
    assert handler.calls[-1][:3] == ("rollback", forge_host.installation().id, "2")


def test_a_refused_schedule_is_not_retried_and_rollback_still_runs(forge_host, handler):
    handler.plan = {"schedule": [RealmMigrationRefused("E0002", "EU is not served")]}
    log = forge_host.migrate_realm(migration_id=3)
    assert phases(log) == [("schedule", [409]), ("rollback", [200])]
    refused = log[0][1][0].response.json()
    assert refused["code"] == "realm_migration_refused"
    assert refused["errorResponseCode"] == "E0002" and refused["detail"] == "EU is not served"
    assert [c[0] for c in handler.calls] == ["schedule", "rollback"]
    assert state(3) == "rolled_back"


def test_a_handler_that_raises_is_500_and_retried(forge_host, handler):
    handler.plan = {"start": [RuntimeError("disk full"), RuntimeError("disk full")]}
    log = forge_host.migrate_realm(migration_id=4)
    assert phases(log)[:2] == [("schedule", [200]), ("start", [500, 500, 200])]
    failed = log[1][1][0].response.json()
    assert failed["code"] == "realm_migration_failed" and "errorResponseCode" not in failed
    assert state(4) == "committed"


# -- order and repeats ---------------------------------------------------------------------------


def test_repeated_hooks_are_answered_again_without_the_handler(forge_host, handler):
    for _ in range(2):
        (attempt,) = forge_host.realm_hook("schedule", 5)
        assert attempt.status == 200 and attempt.response.json()["state"] == "scheduled"
    assert [c[0] for c in handler.calls] == ["schedule"]


@pytest.mark.parametrize(
    ("done", "phase", "error_code"),
    [
        ([], "start", "E0001"),
        ([], "commit", "E0001"),
        ([], "status", "E0001"),
        (["schedule"], "commit", "E9999"),
        (["schedule", "start", "commit"], "rollback", "E9999"),
        (["schedule", "start", "commit"], "start", "E9999"),
        (["schedule", "rollback"], "start", "E9999"),
        (["schedule", "start"], "schedule", "E9999"),
    ],
)
def test_out_of_order_hooks_are_409_and_change_nothing(
    forge_host, handler, done, phase, error_code
):
    for step in done:
        assert forge_host.realm_hook(step, 6)[-1].status == 200
    before = list(ForgeRealmMigration.objects.values_list("state", "ended_at"))
    calls = list(handler.calls)
    (attempt,) = forge_host.realm_hook(phase, 6)  # errorResponseCode: not retried
    assert attempt.status == 409
    answer = attempt.response.json()
    assert answer["code"] == "realm_migration_out_of_order" and answer["hint"]
    assert answer["errorResponseCode"] == error_code
    assert answer["installationId"] == forge_host.installation().id
    assert list(ForgeRealmMigration.objects.values_list("state", "ended_at")) == before
    assert handler.calls == calls


def test_status_of_a_migration_that_is_not_running_is_its_state(forge_host, handler):
    forge_host.realm_hook("schedule", 7)
    (attempt,) = forge_host.realm_hook("status", 7)
    assert attempt.response.json()["status"] == "scheduled"
    assert [c[0] for c in handler.calls] == ["schedule"]


# -- refused -------------------------------------------------------------------------------------


def test_without_a_handler_every_hook_is_501_and_stores_nothing(forge_host, db):
    (attempt,) = forge_host.realm_hook("schedule", 8)
    assert attempt.status == 501
    answer = attempt.response.json()
    assert answer["code"] == "realm_migration_not_supported"
    assert "FORGE_REALM_MIGRATION_HANDLER" in answer["hint"]
    assert answer["errorResponseCode"] == "E0003"
    assert answer["installationId"] == forge_host.installation().id
    assert ForgeInstallation.objects.count() == 0 and ForgeRealmMigration.objects.count() == 0


@pytest.mark.parametrize("value", [f"{__name__}.NotAHandler", f"{__name__}.Missing", "nodots"])
def test_a_wrong_handler_setting_is_500_and_retried(forge_host, db, settings, value):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_REALM_MIGRATION_HANDLER": value,
    }
    attempts = forge_host.realm_hook("schedule", 9)
    assert [a.status for a in attempts] == [500, 500, 500]
    answer = attempts[0].response.json()
    assert answer["code"] == "realm_migration_handler_invalid" and value in answer["detail"]
    assert ForgeRealmMigration.objects.count() == 0


@pytest.mark.parametrize(
    ("phase", "body", "fragment"),
    [
        ("schedule", b"not json", "not a JSON object"),
        ("schedule", [], "not a JSON object"),
        ("schedule", {"location": "EU"}, "migrationId"),
        ("schedule", {"migrationId": True, "location": "EU"}, "migrationId"),
        ("schedule", {"migrationId": "a/b", "location": "EU"}, "migrationId"),
        ("start", {"migrationId": 1}, "location"),
        ("schedule", {"migrationId": 1, "location": "EU", "startTime": "soon"}, "startTime"),
        ("commit", {}, "migrationId"),
    ],
)
def test_unusable_bodies_are_400_and_store_nothing(
    client, forge_host, handler, phase, body, fragment
):
    response = call(client, forge_host, "POST", f"/forge/realm-migration/{phase}", body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "realm_migration_payload_invalid" and fragment in answer["detail"]
    assert answer["errorResponseCode"] == "E9999"
    assert ForgeInstallation.objects.count() == 0 and handler.calls == []


def test_a_bad_status_query_is_400(client, forge_host, handler):
    response = call(client, forge_host, "GET", "/forge/realm-migration/status?migrationId=a/b")
    assert response.status_code == 400
    assert response.json()["code"] == "realm_migration_payload_invalid"


@pytest.mark.parametrize("phase", ["schedule", "status"])
def test_csrf_exempt_and_declared_forge(forge_host, handler, phase):
    from django.test import Client

    from django_atlassian_connect.forge.views import ForgeRealmMigrationView

    strict = Client(enforce_csrf_checks=True)
    method = "GET" if phase == "status" else "POST"
    body = {"migrationId": 10, "location": "EU"}
    if phase == "status":
        scheduled = call(strict, forge_host, "POST", "/forge/realm-migration/schedule", body)
        assert scheduled.status_code == 200
    response = call(strict, forge_host, method, f"/forge/realm-migration/{phase}", body)
    assert response.status_code == 200, response.content
    assert response.json()["installationId"] == forge_host.installation().id
    view = ForgeRealmMigrationView.as_view()
    assert view.csrf_exempt is True and view.view_class.connect_token_kind == "forge"


def test_phases_and_methods(client, forge_host, handler):
    response = call(client, forge_host, "POST", "/forge/realm-migration/migrate", {})
    assert response.status_code == 404
    assert response.json()["code"] == "realm_migration_phase_unknown"
    assert call(client, forge_host, "GET", "/forge/realm-migration/schedule").status_code == 405
    assert call(client, forge_host, "POST", "/forge/realm-migration/status", {}).status_code == 405
    assert ForgeInstallation.objects.count() == 0


def test_refused_tokens_store_nothing(client, forge_host, handler):
    expired = forge_host.mint_fit(kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    body = {"migrationId": 1, "location": "EU"}
    url = "/forge/realm-migration/schedule"
    assert_refused(
        call(client, forge_host, "POST", url, body, fit=expired), "token_expired", scheme="Bearer"
    )
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert_refused(response, "token_missing", scheme="Bearer")
    assert ForgeInstallation.objects.count() == 0 and handler.calls == []
