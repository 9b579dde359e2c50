"""POST /forge/lifecycle: Forge's installed and upgraded events, recorded and announced once."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from django_atlassian_connect import signals
from django_atlassian_connect.forge.events import ForgeLifecycleEvent
from django_atlassian_connect.forge.installations import stored_system_token
from django_atlassian_connect.forge.views import ForgeLifecycleView, ForgeScheduledView
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.views_support import (
    INSTALLED,
    UPGRADED,
    assert_bearer_refusal,
    event_headers,
    installed_body,
    post_event,
)

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.usefixtures("_fresh_jwks")]


# -- POST /forge/lifecycle -----------------------------------------------------------------------


def test_the_urls_are_named():
    assert reverse("atlassian_connect_forge:lifecycle") == "/forge/lifecycle"
    assert reverse("atlassian_connect_forge:scheduled") == "/forge/scheduled"
    assert ForgeLifecycleView.connect_token_kind == ForgeScheduledView.connect_token_kind == "forge"


@pytest.mark.parametrize("wrapped", [False, True], ids=["top-level", "payload"])
def test_installed_is_recorded_and_announced(forge_host, db, received, committed, wrapped):
    (attempt,) = forge_host.deliver_lifecycle(INSTALLED, wrap_in_payload=wrapped)
    assert attempt.status == 204 and attempt.response.content == b""
    installation = forge_host.installation()
    row = ForgeInstallation.objects.get(installation_id=installation.id)
    assert stored_system_token(row) == forge_host.current_system_token()
    assert received.names() == ["forge_invoked", "forge_installed"]
    (sent,) = received.of("forge_installed")
    event: ForgeLifecycleEvent = sent["event"]
    assert sent["installation"].pk == row.pk and sent["sender"] is ForgeInstallation
    assert sent["context"].installation_id == installation.id
    assert event.event_type == INSTALLED and event.installation_id == installation.id
    assert event.site_ari == installation.site_ari
    assert event.account_id == attempt.body.get("payload", attempt.body)["installerAccountId"]
    assert event.app_version == forge_host.directory.app_version
    assert event.retry_count == 0 and not event.is_retry


def test_upgraded_names_the_upgrader(forge_host, db, received, committed):
    upgrader = next(iter(forge_host.accounts))
    (attempt,) = forge_host.deliver_lifecycle(UPGRADED, account_id=upgrader, wrap_in_payload=True)
    assert attempt.status == 204
    (sent,) = received.of("forge_upgraded")
    assert sent["event"].account_id == upgrader
    assert received.of("forge_installed") == []


def test_retries_announce_the_event_once(client, forge_host, db, received, committed):
    body = installed_body(forge_host)
    for count in range(4):
        sent = dict(body)
        if count:
            sent["retryContext"] = {
                "retryData": None,
                "retryCount": count,
                "retryReason": "TIMEOUT_ERROR",
            }
        # Every delivery carries a fresh FIT, wrapped or not.
        response = post_event(client, forge_host, {"payload": sent} if count % 2 else sent)
        assert response.status_code == 204
    assert received.names().count("forge_invoked") == 4
    assert len(received.of("forge_installed")) == 1
    # The next event of the same installation is another event.
    upgraded = installed_body(forge_host, UPGRADED)
    assert post_event(client, forge_host, upgraded).status_code == 204
    assert len(received.of("forge_upgraded")) == 1


def test_a_receiver_that_fails_lets_the_retry_announce(forge_host, db, committed):
    calls: list[int] = []

    def flaky(sender, event, **kwargs):
        calls.append(event.retry_count)
        if len(calls) == 1:
            raise RuntimeError("broker down")

    signals.forge_installed.connect(flaky, weak=False)
    try:
        client = Client(raise_request_exception=False)
        body = installed_body(forge_host)
        assert post_event(client, forge_host, body).status_code == 500
        retry = {**body, "retryContext": {"retryData": None, "retryCount": 1, "retryReason": "x"}}
        assert post_event(client, forge_host, retry).status_code == 204
        assert post_event(client, forge_host, retry).status_code == 204
    finally:
        signals.forge_installed.disconnect(flaky)
    assert calls == [0, 1]


def test_a_body_of_another_installation_is_400_and_writes_nothing(
    client, forge_host, db, received, committed
):
    other = forge_host.add_installation("jira")
    mine = forge_host.installation()
    body = installed_body(forge_host, id=other.uuid)
    response = post_event(client, forge_host, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "payload_invalid"
    assert other.id in answer["detail"] and mine.id in answer["detail"]
    assert answer["bodyInstallationId"] == other.id and answer["installationId"] == mine.id
    assert ForgeInstallation.objects.count() == 0
    assert received.calls == []


def test_the_body_id_may_be_the_ari_or_absent(client, forge_host, db, received, committed):
    body = installed_body(forge_host, id=forge_host.installation().id.upper())
    assert post_event(client, forge_host, body).status_code == 204
    body = installed_body(forge_host, UPGRADED)
    del body["id"]
    assert post_event(client, forge_host, body).status_code == 204
    assert received.names().count("forge_invoked") == 2
    assert len(received.of("forge_installed")) == len(received.of("forge_upgraded")) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b"{}", "no eventType"),
        (json.dumps({"eventType": INSTALLED, "id": "nope"}).encode(), "not a Forge installation"),
    ],
)
def test_unusable_bodies_are_400_and_write_nothing(client, forge_host, db, body, fragment):
    response = post_event(client, forge_host, body)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert response.json()["code"] == "payload_invalid"
    assert ForgeInstallation.objects.count() == 0


def test_unknown_events_are_recorded_and_answered_204(client, forge_host, db, received, committed):
    body = {"eventType": "avi:forge:something-new:app", "id": "not-even-a-uuid"}
    assert post_event(client, forge_host, body).status_code == 204
    assert ForgeInstallation.objects.count() == 1
    assert received.names() == ["forge_invoked"]


def test_lifecycle_refusals_write_nothing(client, forge_host, db, received, committed):
    body = installed_body(forge_host)
    expired = forge_host.mint_fit(kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    assert_bearer_refusal(post_event(client, forge_host, body, fit=expired), "token_expired")
    forged = forge_host.mint_fit(kind="event", kid="forge/invocation-token/unknown")
    assert_bearer_refusal(post_event(client, forge_host, body, fit=forged), "key_invalid")
    response = client.post("/forge/lifecycle", json.dumps(body), content_type="application/json")
    assert_bearer_refusal(response, "token_missing")
    assert ForgeInstallation.objects.count() == 0
    assert received.calls == []


def test_lifecycle_key_unavailable_is_503_so_forge_retries(client, forge_host, db):
    cache.clear()
    forge_host.jwks.fault = "refuse"
    try:
        response = post_event(client, forge_host, installed_body(forge_host))
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_lifecycle_body_size_is_bounded(client, forge_host, db, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "MAX_LIFECYCLE_BODY": 100}
    response = post_event(client, forge_host, installed_body(forge_host))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/lifecycle", "/forge/scheduled"])
@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_post_only(client, forge_host, db, url, method):
    response = getattr(client, method)(url, **event_headers(forge_host))
    assert response.status_code == 405
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/lifecycle", "/forge/scheduled"])
def test_csrf_exempt_and_never_a_redirect(forge_host, db, settings, url):
    # APPEND_SLASH (on by default) never touches a path that matches; the
    # recommended SECURE_REDIRECT_EXEMPT keeps SECURE_SSL_REDIRECT off these paths.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^forge/"]
    strict = Client(enforce_csrf_checks=True)
    body = json.dumps(installed_body(forge_host))
    response = strict.post(url, body, content_type="application/json", **event_headers(forge_host))
    assert response.status_code == 204
