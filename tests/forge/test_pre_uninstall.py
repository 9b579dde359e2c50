"""POST /forge/pre-uninstall: the installation is uninstalled, once, and left alone after.

The simulated platform's ``uninstall`` sends preUninstall as Forge does (one
attempt, failures ignored) through Django's test client.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import include, path, reverse

from django_atlassian_connect import signals
from django_atlassian_connect.forge.housekeeping import (
    report_forge_tokens,
    silent_installations,
)
from django_atlassian_connect.models import ForgeInstallation
from tests.conftest import assert_refused

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [path("forge/", include("django_atlassian_connect.forge.urls"))]


@pytest.fixture
def uninstalled(transactional_db):
    """The installation ids ``forge_pre_uninstall`` was sent for, in order."""
    seen: list[str] = []

    def receiver(sender: Any, installation: Any, context: Any, **kwargs: Any) -> None:
        assert sender is ForgeInstallation
        assert installation.uninstalled_at is not None
        assert context.installation_id == installation.installation_id
        seen.append(installation.installation_id)

    signals.forge_pre_uninstall.connect(receiver, weak=False)
    yield seen
    signals.forge_pre_uninstall.disconnect(receiver)


def post(client, forge_host, body: Any = None, *, installation=None, fit=None):
    sent = forge_host.invocation_headers(
        installation, kind="event", module_key="forge-pre-uninstall", fit=fit
    )
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in sent.items()}
    data = body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else ""
    return client.post("/forge/pre-uninstall", data, content_type="application/json", **meta)


def row(installation_id: str) -> ForgeInstallation:
    return ForgeInstallation.objects.get(installation_id=installation_id)


def test_the_url_is_named():
    assert reverse("atlassian_connect_forge:pre_uninstall") == "/forge/pre-uninstall"


def test_pre_uninstall_stamps_the_installation_and_says_so_once(
    client, forge_host, uninstalled, caplog
):
    installation = forge_host.installation()
    forge_host.trigger_scheduled()  # known before, with a token
    with caplog.at_level(logging.INFO, "django_atlassian_connect"):
        attempt = forge_host.uninstall()
    assert attempt is not None and attempt.status == 204, attempt
    assert attempt.body["context"]["cloudId"] == installation.cloud_id
    stamped = row(installation.id).uninstalled_at
    assert stamped is not None and not row(installation.id).is_active
    assert uninstalled == [installation.id]
    assert f"forge preUninstall for {installation.id}: uninstalled" in caplog.text
    # Forge calls again (or a FIT is replayed): same answer, nothing changes, no signal.
    assert (
        post(client, forge_host, {"context": {"cloudId": installation.cloud_id}}).status_code == 204
    )
    assert row(installation.id).uninstalled_at == stamped
    assert uninstalled == [installation.id]


def test_an_installation_first_seen_at_pre_uninstall_is_recorded_uninstalled(
    client, forge_host, uninstalled
):
    response = post(client, forge_host)  # an empty body: the FIT names the installation
    assert response.status_code == 204
    assert row(forge_host.installation().id).uninstalled_at is not None
    assert uninstalled == [forge_host.installation().id]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not an object"),
        ({"context": {"cloudId": "00000000-0000-4000-8000-000000000000"}}, "names site"),
        ({"payload": {"context": {"cloudId": "elsewhere"}}}, "names site"),
    ],
)
def test_bodies_forge_would_not_send_are_400_and_store_nothing(
    client, forge_host, uninstalled, body, fragment
):
    response = post(client, forge_host, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "payload_invalid" and fragment in answer["detail"]
    assert answer["installationId"] == forge_host.installation().id
    assert "preUninstall" in answer["hint"]
    assert ForgeInstallation.objects.count() == 0 and uninstalled == []


def test_refused_tokens_store_nothing(client, forge_host, uninstalled):
    expired = forge_host.mint_fit(kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    assert_refused(post(client, forge_host, fit=expired), "token_expired", scheme="Bearer")
    response = client.post("/forge/pre-uninstall", "", content_type="application/json")
    assert_refused(response, "token_missing", scheme="Bearer")
    assert ForgeInstallation.objects.count() == 0 and uninstalled == []


def test_housekeeping_skips_it_after(forge_host, uninstalled, caplog):
    forge_host.trigger_scheduled()
    other = forge_host.add_installation("jira")
    forge_host.trigger_scheduled(other)
    ForgeInstallation.objects.update(
        system_token_expires_at=datetime.now(tz=UTC) + timedelta(minutes=5),
        last_seen_at=datetime.now(tz=UTC) - timedelta(days=5),
    )
    forge_host.uninstall()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        assert report_forge_tokens() == {"running_out": 1, "expired": 0}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert other.id in warning and forge_host.installation().id not in warning
    assert [i.installation_id for i in silent_installations(1)] == [other.id]


def test_a_later_fit_is_served_but_does_not_reinstall(forge_host, uninstalled):
    installation = forge_host.installation()
    forge_host.uninstall()
    stamped = row(installation.id).uninstalled_at
    # Still signed by Forge for this id (an event in flight): served, still uninstalled.
    assert forge_host.trigger_scheduled(installation).status_code == 204
    (upgraded,) = forge_host.deliver_lifecycle("avi:forge:upgraded:app", installation)
    assert upgraded.status == 204
    assert row(installation.id).uninstalled_at == stamped


def test_installed_for_the_same_id_clears_it(forge_host, uninstalled, caplog):
    installation = forge_host.installation()
    forge_host.uninstall()
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        (attempt,) = forge_host.deliver_lifecycle("avi:forge:installed:app", installation)
    assert attempt.status == 204
    assert row(installation.id).uninstalled_at is None
    assert f"forge installation {installation.id} uninstalled at" in caplog.text


def test_a_reinstall_is_a_new_installation(forge_host, uninstalled):
    old = forge_host.installation()
    forge_host.uninstall()
    new = forge_host.reinstall(old)
    assert new.id != old.id and new.cloud_id == old.cloud_id
    (attempt,) = forge_host.deliver_lifecycle("avi:forge:installed:app", new)
    assert attempt.status == 204
    assert row(new.id).uninstalled_at is None and row(new.id).cloud_id == old.cloud_id
    assert row(old.id).uninstalled_at is not None
    assert uninstalled == [old.id]
