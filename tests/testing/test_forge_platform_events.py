"""The simulated Forge platform's product events, preUninstall and realm migration hooks.

Checked from the outside, as an app sees them: over HTTP on 127.0.0.1, with a
stand-in remote that answers from a plan, and plain PyJWT.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest

from django_atlassian_connect.testing.forge import ForgePlatform, ForgeSigningKey, KeyRing
from django_atlassian_connect.testing.forge.wire import Reply, Request, handler_for
from django_atlassian_connect.testing.server import LocalHTTPServer


@pytest.fixture(scope="module")
def signing_key() -> ForgeSigningKey:
    return ForgeSigningKey()


@pytest.fixture
def forge(signing_key):
    with ForgePlatform(keys=KeyRing(signing_key)) as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        platform.add_installation("jira")
        yield platform


class Remote(LocalHTTPServer):
    """A stand-in app: answers each request with the next reply of ``plan`` (then 204)."""

    def __init__(self, *plan: Reply | int) -> None:
        super().__init__()
        self.plan = list(plan)
        self.received: list[Request] = []

    def handler_class(self):
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        self.received.append(request)
        step = self.plan.pop(0) if self.plan else 204
        return step if isinstance(step, Reply) else Reply(step, {"status": step})

    def claims(self, index: int) -> dict[str, Any]:
        token = self.received[index].headers["authorization"].split(" ", 1)[1]
        return jwt.decode(token, options={"verify_signature": False})

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.received]


@pytest.fixture
def remote(forge):
    server = Remote()
    with server:
        forge.remote_base_url = server.url
        yield server


# -- product events ------------------------------------------------------------------------------


def test_a_product_event_is_posted_with_a_fit_and_the_system_token(forge, remote):
    installation = forge.installation()
    (attempt,) = forge.deliver_event("avi:jira:created:issue")
    assert attempt.ok and attempt.status == 204
    (request,) = remote.received
    assert (request.method, request.path) == ("POST", "/forge/events")
    body = request.json()
    assert body["eventType"] == "avi:jira:created:issue"
    assert body["atlassianId"] == installation.installer_account_id
    assert body["issue"]["key"].startswith("EX-") and body["issue"]["id"]
    assert request.headers["x-forge-oauth-system"] == forge.current_system_token()
    assert "x-forge-oauth-user" not in request.headers  # never on events
    claims = remote.claims(0)
    assert claims["app"]["installationId"] == installation.id
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "forge-product-events"}
    assert "principal" not in claims


def test_a_failed_event_is_retried_with_retry_context_and_fresh_fits(forge):
    with Remote(500, 401, 503, 204) as server:
        forge.remote_base_url = server.url
        attempts = forge.deliver_event("avi:jira:updated:issue", payload={"issue": {"id": "1"}})
    assert [a.status for a in attempts] == [500, 401, 503, 204]
    assert [a.failure for a in attempts] == [
        "INVALID_REMOTE_INVOCATION_ERROR",
        "INVALID_FORGE_INVOCATION_TOKEN",
        "INVALID_REMOTE_INVOCATION_ERROR",
        None,
    ]
    bodies = server.bodies()
    assert "retryContext" not in bodies[0]
    assert [b["retryContext"] for b in bodies[1:]] == [
        {"retryData": None, "retryCount": 1, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
        {"retryData": None, "retryCount": 2, "retryReason": "INVALID_FORGE_INVOCATION_TOKEN"},
        {"retryData": None, "retryCount": 3, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
    ]
    # The same event every time; a fresh token each time.
    assert {json.dumps({k: v for k, v in b.items() if k != "retryContext"}) for b in bodies} == {
        json.dumps({"issue": {"id": "1"}, "eventType": "avi:jira:updated:issue"})
    }
    assert len({server.claims(i)["jti"] for i in range(4)}) == 4


def test_an_event_is_given_up_after_four_retries(forge):
    with Remote(*[500] * 10) as server:
        forge.remote_base_url = server.url
        attempts = forge.deliver_event(wrap_in_payload=True)
    assert len(attempts) == 5 and not attempts[-1].ok
    assert all("payload" in b and b["payload"]["eventType"] for b in server.bodies())


# -- preUninstall --------------------------------------------------------------------------------


def test_uninstall_sends_pre_uninstall_once_and_ignores_a_failure(forge):
    installation = forge.installation()
    with Remote(500) as server:
        forge.remote_base_url = server.url
        attempt = forge.uninstall()
    assert attempt is not None and attempt.status == 500 and not attempt.ok
    (request,) = server.received
    assert request.path == "/forge/pre-uninstall"
    body = request.json()
    assert body["context"] == {"cloudId": installation.cloud_id, "moduleKey": "forge-pre-uninstall"}
    assert body["contextToken"]
    assert server.claims(0)["app"]["installationId"] == installation.id
    assert installation.uninstalled  # uninstalled all the same
    with pytest.raises(AssertionError, match="uninstalled"):
        forge.deliver_event(installation=installation)


def test_uninstall_without_the_module_sends_nothing(forge, remote):
    assert forge.uninstall(path=None) is None
    assert remote.received == [] and forge.installation().uninstalled


def test_a_reinstall_is_a_new_installation_on_the_same_site(forge, remote):
    old = forge.installation()
    with pytest.raises(AssertionError, match="uninstall it first"):
        forge.reinstall(old)
    forge.uninstall()
    new = forge.reinstall(old)
    assert new.id != old.id
    assert (new.cloud_id, new.site_url, new.api_base_url) == (
        old.cloud_id,
        old.site_url,
        old.api_base_url,
    )
    assert forge.directory.by_cloud_id(old.cloud_id) is new
    forge.deliver_event(installation=new)
    assert remote.claims(-1)["app"]["installationId"] == new.id


# -- realm migration hooks -----------------------------------------------------------------------


def test_realm_hooks_paths_methods_and_bodies(forge, remote):
    installation = forge.installation()
    for phase in ("schedule", "start", "status", "commit", "rollback"):
        (attempt,) = forge.realm_hook(phase, 57500, location="EU")
        assert attempt.ok
    methods = [(r.method, r.path) for r in remote.received]
    assert methods == [
        ("POST", "/forge/realm-migration/schedule"),
        ("POST", "/forge/realm-migration/start"),
        ("GET", "/forge/realm-migration/status"),
        ("POST", "/forge/realm-migration/commit"),
        ("POST", "/forge/realm-migration/rollback"),
    ]
    schedule, start, status, commit, rollback = remote.received
    assert set(schedule.json()) == {"startTime", "endTime", "location", "migrationId"}
    assert schedule.json()["location"] == "EU" and schedule.json()["migrationId"] == 57500
    assert start.json() == schedule.json()
    assert parse_qs(status.query) == {"migrationId": ["57500"]} and status.body == b""
    assert commit.json() == rollback.json() == {"migrationId": 57500}
    assert {remote.claims(i)["app"]["installationId"] for i in range(5)} == {installation.id}


def test_realm_hooks_are_retried_twice_unless_an_error_code_answers(forge):
    coded = Reply(409, {"errorResponseCode": "E0004"})
    with Remote(500, 500, 500, coded) as server:
        forge.remote_base_url = server.url
        retried = forge.realm_hook("schedule", 1)
        coded_attempts = forge.realm_hook("start", 1)
    assert [a.status for a in retried] == [500, 500, 500]
    assert [a.status for a in coded_attempts] == [409]
    assert len(server.received) == 4


def test_migrate_realm_commits_only_when_ready(forge):
    not_ready = Reply(200, {"status": "copying"})
    ready = Reply(200, {"status": "ready-to-commit"})
    with Remote(204, 204, not_ready, ready) as server:
        forge.remote_base_url = server.url
        log = forge.migrate_realm(migration_id=7)
    assert [p for p, _ in log] == ["schedule", "start", "status", "status", "commit"]
    assert server.received[-1].path == "/forge/realm-migration/commit"
    with Remote(204, 204, not_ready, not_ready) as server:
        forge.remote_base_url = server.url
        log = forge.migrate_realm(migration_id=8, polls=2)
    assert [p for p, _ in log] == ["schedule", "start", "status", "status", "rollback"]
    failed_schedule = Reply(400, {"errorResponseCode": "E0002"})
    with Remote(failed_schedule) as server:
        forge.remote_base_url = server.url
        log = forge.migrate_realm(migration_id=9)
    assert [p for p, _ in log] == ["schedule", "rollback"]
