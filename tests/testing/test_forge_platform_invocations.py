"""The simulated Forge platform's invocations, lifecycle events and scheduled triggers."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jwt
import pytest

from django_atlassian_connect.testing.forge import delivery as delivery_module
from django_atlassian_connect.testing.forge.wire import Reply, Request, handler_for
from django_atlassian_connect.testing.server import LocalHTTPServer
from tests.testing.forge_platform_support import verify


class Remote(LocalHTTPServer):
    """A stand-in for the app: answers from ``plan`` (then 204) and records every request.

    A plan entry is a status code, or ``("sleep", seconds)`` before a 204.
    """

    def __init__(self, *plan: Any) -> None:
        super().__init__()
        self.plan = list(plan)
        self.received: list[Request] = []

    def handler_class(self):
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        self.received.append(request)
        step = self.plan.pop(0) if self.plan else 204
        if isinstance(step, tuple):
            time.sleep(step[1])
            step = 204
        if 300 <= step < 400:
            return Reply(step, b"", {"Location": "/elsewhere"})
        return Reply(step, {"status": step} if step != 204 else b"")

    def claims(self, index: int = -1) -> dict[str, Any]:
        token = self.received[index].headers["authorization"].split(" ", 1)[1]
        return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def remote():
    with Remote() as server:
        yield server


# -- invocations, events, triggers ----------------------------------------------


def test_invoke_sends_what_invoke_remote_sends(forge, remote, user):
    forge.remote_base_url = remote.url
    response = forge.invoke(
        "/forge/echo", body={"a": 1}, account_id=user, headers={"x-custom": "yes"}
    )
    assert response.status_code == 204
    (request,) = remote.received
    assert (request.method, request.path) == ("POST", "/forge/echo")
    assert json.loads(request.body) == {"a": 1}
    headers = request.headers
    assert headers["authorization"].startswith("Bearer ")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-b3-traceid"])
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-b3-spanid"])
    assert headers["x-forge-oauth-system"] == forge.current_system_token()  # bare, no "Bearer "
    assert forge.issued[headers["x-forge-oauth-user"]].account_id == user
    assert headers["x-custom"] == "yes"
    assert verify(forge, headers["authorization"][7:])["principal"] == user


def test_invoke_without_a_user_or_tokens(forge, remote, user):
    forge.remote_base_url = remote.url
    forge.invoke("/forge/x", "GET")
    forge.invoke("/forge/x", "GET", account_id=user, user_token=False, system_token=False)
    first, second = (r.headers for r in remote.received)
    assert "x-forge-oauth-user" not in first and "x-forge-oauth-system" in first
    assert "principal" not in remote.claims(0)
    assert "x-forge-oauth-user" not in second and "x-forge-oauth-system" not in second
    assert remote.claims(1)["principal"] == user


def test_the_system_token_is_reused_until_it_is_renewed(forge, remote):
    forge.remote_base_url = remote.url
    forge.invoke("/forge/x")
    forge.invoke("/forge/x")
    first, second = (r.headers["x-forge-oauth-system"] for r in remote.received)
    assert first == second
    assert remote.claims(0)["jti"] != remote.claims(1)["jti"]  # a fresh FIT each time
    forge.expire_system_token()
    forge.invoke("/forge/x")
    renewed = remote.received[-1].headers["x-forge-oauth-system"]
    assert renewed != first
    exp = [jwt.decode(t, options={"verify_signature": False})["exp"] for t in (first, renewed)]
    assert exp[1] > exp[0]


def test_lifecycle_body_and_token(forge, remote):
    forge.remote_base_url = remote.url
    installation = forge.installation()
    (attempt,) = forge.deliver_lifecycle("avi:forge:installed:app", installation)
    assert attempt.ok and attempt.status == 204
    (request,) = remote.received
    assert request.path == "/forge/lifecycle"
    body = json.loads(request.body)
    assert body == {
        "id": installation.uuid,
        "eventType": "avi:forge:installed:app",
        "context": f"ari:cloud:jira::site/{installation.cloud_id}",
        "installerAccountId": next(iter(forge.accounts)),
        "app": {
            "id": forge.app_id.rsplit("/", 1)[1],
            "name": "simulated-forge-app",
            "ownerAccountId": forge.directory.owner_account_id,
            "version": "1.0.0",
        },
        "environment": {"id": forge.directory.environment.uuid},
    }
    assert "x-forge-oauth-system" in request.headers
    assert "x-forge-oauth-user" not in request.headers
    claims = verify(forge, request.headers["authorization"][7:])
    assert "principal" not in claims and claims["app"]["module"]["type"] == "core:endpoint"
    assert "siteUrl" not in claims["context"]


def test_upgraded_event_names_the_upgrader_and_can_be_wrapped(forge, remote):
    forge.remote_base_url = remote.url
    forge.deliver_lifecycle("avi:forge:upgraded:app", wrap_in_payload=True)
    payload = json.loads(remote.received[0].body)["payload"]
    assert payload["eventType"] == "avi:forge:upgraded:app"
    assert "upgraderAccountId" in payload and "installerAccountId" not in payload


def test_failed_lifecycle_deliveries_are_retried_with_a_retry_context(forge, remote):
    forge.remote_base_url = remote.url
    remote.plan = [500, 401, 302]
    attempts = forge.deliver_lifecycle(wrap_in_payload=True)
    assert [a.status for a in attempts] == [500, 401, 302, 204]
    assert [a.failure for a in attempts] == [
        "INVALID_REMOTE_INVOCATION_ERROR",
        "INVALID_FORGE_INVOCATION_TOKEN",
        "INVALID_REMOTE_INVOCATION_ERROR",  # redirects are not followed
        None,
    ]
    contexts = [json.loads(r.body)["payload"].get("retryContext") for r in remote.received]
    assert contexts == [
        None,
        {"retryData": None, "retryCount": 1, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
        {"retryData": None, "retryCount": 2, "retryReason": "INVALID_FORGE_INVOCATION_TOKEN"},
        {"retryData": None, "retryCount": 3, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
    ]
    assert attempts[1].body == json.loads(remote.received[1].body)
    assert len({remote.claims(i)["jti"] for i in range(4)}) == 4  # a fresh FIT each time


def test_lifecycle_gives_up_after_the_retries(forge, remote):
    forge.remote_base_url = remote.url
    remote.plan = [503] * 10
    attempts = forge.deliver_lifecycle(retries=4)
    assert len(attempts) == len(remote.received) == 5
    assert not any(a.ok for a in attempts)
    assert forge.deliver_lifecycle(retries=0)[0].status == 503


def test_timeouts_and_network_errors_are_retried(forge, remote, monkeypatch):
    monkeypatch.setattr(delivery_module, "EVENT_TIMEOUT", 0.3)
    forge.remote_base_url = remote.url
    remote.plan = [("sleep", 0.8)]
    attempts = forge.deliver_lifecycle()
    assert [a.failure for a in attempts] == ["TIMEOUT_ERROR", None]
    assert attempts[0].status is None and "in time" in attempts[0].error
    assert attempts[1].body["retryContext"]["retryReason"] == "TIMEOUT_ERROR"

    forge.remote_base_url = "http://127.0.0.1:9"  # nothing listens there
    attempts = forge.deliver_lifecycle(retries=1)
    assert [a.failure for a in attempts] == ["INVALID_REMOTE_INVOCATION_ERROR"] * 2


def test_scheduled_trigger_never_carries_a_user_token(forge, remote, user):
    forge.remote_base_url = remote.url
    installation = forge.installation()
    response = forge.trigger_scheduled()
    assert response.status_code == 204
    (request,) = remote.received
    assert (request.method, request.path) == ("POST", "/forge/scheduled")
    assert json.loads(request.body) == {
        "context": {"cloudId": installation.cloud_id, "moduleKey": "forge-token-refresh"}
    }
    assert request.headers["x-forge-oauth-system"] == forge.current_system_token()
    assert "x-forge-oauth-user" not in request.headers
    claims = verify(forge, request.headers["authorization"][7:])
    assert "principal" not in claims
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "forge-token-refresh"}
    assert forge.sent[-1]["kind"] == "scheduled"


def test_installations_are_found_by_ari_or_uuid(forge):
    installation = forge.installation()
    assert forge.installation(installation.id) is installation
    assert forge.installation(installation.uuid) is installation
    with pytest.raises(AssertionError, match="no installation"):
        forge.installation("nope")
    with pytest.raises(ValueError, match="product"):
        forge.add_installation("bitbucket")
