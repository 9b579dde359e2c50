"""POST /forge/events: product events, verified, sent to their receivers once per event.

Real FITs from the simulated Forge platform (``forge_host``) through Django's
test client; the platform's own retry loop drives the retries.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import include, path, reverse

from django_atlassian_connect import signals
from django_atlassian_connect.forge import dedupe, product_events
from django_atlassian_connect.forge.product_events import (
    ForgeProductEvent,
    disconnect_receiver,
    forge_event_receiver,
    subscribed_event_types,
)
from django_atlassian_connect.models import ForgeInstallation
from django_atlassian_connect.testing.forge.delivery import product_event_body
from tests.conftest import assert_refused

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [path("forge/", include("django_atlassian_connect.forge.urls"))]

CREATED = "avi:jira:created:issue"
UPDATED = "avi:jira:updated:issue"


class Calls:
    """A receiver for some event types that records what it was called with."""

    def __init__(self, *event_types: str, fail: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

        @forge_event_receiver(*event_types)
        def receive(sender: Any, **kwargs: Any) -> None:
            self.calls.append({"sender": sender, **kwargs})
            # A write of the receiver's own: it must roll back when the receiver fails.
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE django_atlassian_connect_forgeinstallation SET site_url = %s "
                    "WHERE id = %s",
                    ["https://written-by-receiver.example", kwargs["installation"].pk],
                )
            if len(self.calls) <= self.fail:
                raise RuntimeError("the broker is down")

        self.receive = receive

    @property
    def installation_ids(self) -> list[str]:
        return [c["installation"].installation_id for c in self.calls]


@pytest.fixture
def calls():
    made: list[Calls] = []

    def make(*event_types: str, fail: int = 0) -> Calls:
        recorder = Calls(*event_types, fail=fail)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        disconnect_receiver(recorder.receive)


def headers(forge_host, installation=None, *, fit: str | None = None) -> dict[str, str]:
    sent = forge_host.invocation_headers(
        installation, kind="event", module_key="forge-product-events", fit=fit
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in sent.items()}


def post(client: Client, forge_host, body: Any, url: str = "/forge/events", **kwargs: Any):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **headers(forge_host, **kwargs))


def issue_body(forge_host, event_type: str = CREATED, **fields: Any) -> dict[str, Any]:
    account = next(iter(forge_host.accounts))
    return product_event_body(event_type, forge_host.installation(), account, **fields)


# -- accepted ------------------------------------------------------------------------------------


def test_the_url_is_named():
    assert reverse("atlassian_connect_forge:events") == "/forge/events"


def test_an_event_reaches_its_receiver_once_with_the_fits_installation(forge_host, db, calls):
    created, updated = calls(CREATED), calls(UPDATED)
    (attempt,) = forge_host.deliver_event(CREATED)
    assert attempt.status == 204 and attempt.response.content == b""
    installation = forge_host.installation()
    assert created.installation_ids == [installation.id]
    assert updated.calls == []
    sent = created.calls[0]
    assert sent["sender"] is ForgeInstallation
    assert sent["event_type"] == CREATED
    assert sent["payload"] == attempt.body
    assert sent["context"].installation_id == installation.id
    event: ForgeProductEvent = sent["event"]
    assert event.installation_id == installation.id and not event.is_retry
    assert event.atlassian_id == attempt.body["atlassianId"]
    row = ForgeInstallation.objects.get(installation_id=installation.id)
    assert row.pk == sent["installation"].pk and row.last_seen_at is not None


def test_a_wrapped_event_is_unwrapped(forge_host, db, calls):
    created = calls(CREATED)
    (attempt,) = forge_host.deliver_event(CREATED, wrap_in_payload=True)
    assert attempt.status == 204
    assert created.calls[0]["payload"] == attempt.body["payload"]
    assert created.installation_ids == [forge_host.installation().id]


def test_patterns_and_several_types(forge_host, db, calls):
    issues = calls("avi:jira:*:issue")
    both = calls(CREATED, "avi:jira:deleted:issue")
    for event_type in (CREATED, UPDATED, "avi:jira:deleted:issue", "avi:jira:created:worklog"):
        assert forge_host.deliver_event(event_type)[-1].status == 204
    assert [c["event_type"] for c in issues.calls] == [
        CREATED,
        UPDATED,
        "avi:jira:deleted:issue",
    ]
    assert [c["event_type"] for c in both.calls] == [CREATED, "avi:jira:deleted:issue"]
    assert {"avi:jira:*:issue", CREATED} <= set(subscribed_event_types())


def test_an_event_without_receivers_is_acknowledged(forge_host, db):
    (attempt,) = forge_host.deliver_event("avi:jira:created:version", payload={"version": {}})
    assert attempt.status == 204
    assert ForgeInstallation.objects.get().installation_id == forge_host.installation().id


def test_connect_names_are_refused_when_subscribing():
    with pytest.raises(ValueError, match="avi:jira:created:issue"):
        forge_event_receiver("jira:issue_created")
    with pytest.raises(ValueError):
        forge_event_receiver()


# -- once per event ------------------------------------------------------------------------------


def test_a_retry_of_a_delivered_event_is_acknowledged_without_running_again(
    client, forge_host, db, calls
):
    created = calls(CREATED)
    body = issue_body(forge_host)
    assert post(client, forge_host, body).status_code == 204
    retry = {**body, "retryContext": {"retryData": None, "retryCount": 1, "retryReason": "x"}}
    assert post(client, forge_host, {"payload": retry}).status_code == 204
    assert len(created.calls) == 1
    # Another event (another issue) is another delivery.
    assert post(client, forge_host, issue_body(forge_host)).status_code == 204
    assert len(created.calls) == 2
    assert created.installation_ids == [forge_host.installation().id] * 2


def test_a_receiver_that_raises_is_500_rolled_back_and_run_again_by_forges_retry(
    forge_host, db, calls, caplog
):
    flaky = calls(CREATED, fail=1)
    attempts = forge_host.deliver_event(CREATED)
    assert [a.status for a in attempts] == [500, 204]
    first = attempts[0].response.json()
    assert first["code"] == "forge_event_receiver_failed" and first["hint"]
    assert first["installationId"] == forge_host.installation().id
    assert attempts[1].body["retryContext"]["retryCount"] == 1
    assert [c["event"].retry_count for c in flaky.calls] == [0, 1]
    assert flaky.installation_ids == [forge_host.installation().id] * 2
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text


def test_the_failed_receivers_writes_are_rolled_back(client, forge_host, transactional_db, calls):
    calls(CREATED, fail=5)
    response = Client(raise_request_exception=False).post(
        "/forge/events",
        json.dumps(issue_body(forge_host)),
        content_type="application/json",
        **headers(forge_host),
    )
    assert response.status_code == 500
    row = ForgeInstallation.objects.get()
    assert row.installation_id == forge_host.installation().id  # the invocation is recorded
    assert row.site_url != "https://written-by-receiver.example"


def test_a_retry_while_the_first_delivery_runs_is_409(client, forge_host, db, calls):
    created = calls(CREATED)
    body = issue_body(forge_host)
    installation = forge_host.installation()
    key = ForgeProductEvent(CREATED, installation.id, body).dedupe_key
    assert dedupe.claim(key) == dedupe.CLAIMED  # another worker holds it
    response = post(client, forge_host, body)
    assert response.status_code == 409
    assert response.json()["code"] == "forge_event_in_progress"
    assert response.json()["installationId"] == installation.id
    assert created.calls == []
    dedupe.release(key)
    assert post(client, forge_host, body).status_code == 204
    assert created.installation_ids == [installation.id]


def test_slow_receivers_are_logged(forge_host, db, calls, monkeypatch, caplog):
    calls(CREATED)
    monkeypatch.setattr(product_events, "SLOW_RECEIVERS", -1.0)
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        assert forge_host.deliver_event(CREATED)[-1].status == 204
    assert "enqueue slow work on Celery" in caplog.text


# -- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "payload_invalid"),
        (b"[1]", 400, "payload_invalid"),
        ({"issue": {"key": "EX-1"}}, 400, "forge_event_type_missing"),
        ({"eventType": ""}, 400, "forge_event_type_missing"),
        ({"eventType": 7}, 400, "forge_event_type_missing"),
        ({"eventType": "jira:issue_created"}, 400, "forge_event_type_invalid"),
        ({"eventType": "avi:jira"}, 400, "forge_event_type_invalid"),
        ({"eventType": "avi:jira:" + "x" * 300}, 400, "forge_event_type_invalid"),
    ],
)
def test_unusable_bodies_are_400_and_store_nothing(
    client, forge_host, db, calls, body, status, code
):
    anything = calls("avi:*")
    response = post(client, forge_host, body)
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["code"] == code and answer["detail"] and answer["hint"]
    assert ForgeInstallation.objects.count() == 0
    assert anything.calls == []


def test_refused_tokens_store_nothing_and_reveal_nothing(client, forge_host, db, calls):
    anything = calls("avi:*")
    body = issue_body(forge_host)
    expired = forge_host.mint_fit(kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    body_text = json.dumps(body)
    refused = post(client, forge_host, body, fit=expired)
    assert_refused(refused, "token_expired", scheme="Bearer")
    missing = client.post("/forge/events", body_text, content_type="application/json")
    assert_refused(missing, "token_missing", scheme="Bearer")
    assert "installationId" not in refused.json() and "installationId" not in missing.json()
    assert ForgeInstallation.objects.count() == 0
    assert anything.calls == []


def test_post_only(client, forge_host, db):
    assert client.get("/forge/events", **headers(forge_host)).status_code == 405
    assert ForgeInstallation.objects.count() == 0


# -- the other endpoint's events -----------------------------------------------------------------


def test_a_product_event_at_the_lifecycle_url_is_handled_not_lost(
    client, forge_host, db, calls, caplog
):
    created = calls(CREATED)
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        response = post(client, forge_host, issue_body(forge_host), url="/forge/lifecycle")
    assert response.status_code == 204
    assert created.installation_ids == [forge_host.installation().id]
    assert "reached /forge/lifecycle" in caplog.text and "/forge/events" in caplog.text


def test_a_lifecycle_event_at_the_events_url_is_handled_as_lifecycle(
    forge_host, transactional_db, caplog
):
    installed: list[Any] = []

    def receiver(sender: Any, installation: Any, **kwargs: Any) -> None:
        installed.append(installation.installation_id)

    signals.forge_installed.connect(receiver, weak=False)
    try:
        with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
            (attempt,) = forge_host.deliver_lifecycle(path="/forge/events")
    finally:
        signals.forge_installed.disconnect(receiver)
    assert attempt.status == 204
    assert installed == [forge_host.installation().id]
    assert "reached /forge/events" in caplog.text


def test_events_of_an_uninstalled_installation_are_acknowledged_not_dispatched(
    forge_host, db, calls
):
    created = calls(CREATED)
    assert forge_host.deliver_event(CREATED)[-1].status == 204
    ForgeInstallation.objects.update(uninstalled_at="2026-01-01T00:00:00Z")
    assert forge_host.deliver_event(CREATED)[-1].status == 204
    assert created.installation_ids == [forge_host.installation().id]


@pytest.mark.parametrize("url", ["/forge/events", "/forge/pre-uninstall"])
def test_csrf_exempt_and_never_a_redirect(forge_host, db, settings, calls, url):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^forge/"]
    created = calls(CREATED)
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, forge_host, issue_body(forge_host), url=url).status_code == 204
    row = ForgeInstallation.objects.get()
    assert row.installation_id == forge_host.installation().id
    if url == "/forge/events":
        assert created.installation_ids == [row.installation_id]
    else:
        assert row.uninstalled_at is not None
