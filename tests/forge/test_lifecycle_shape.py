"""POST /forge/lifecycle with the payload Forge's events reference documents: no eventType.

The event is read from the body's shape (installed unless a field only an
upgrade carries is there), logged, and announced like any lifecycle event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.urls import include, path

from django_atlassian_connect import signals
from django_atlassian_connect.forge import events
from django_atlassian_connect.models import ForgeInstallation
from django_atlassian_connect.testing.forge.delivery import lifecycle_body

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [path("forge/", include("django_atlassian_connect.forge.urls"))]

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"


@pytest.fixture
def announced(transactional_db):
    """``(signal name, installation id, event)`` of every forge_installed/forge_upgraded."""
    seen: list[tuple[str, str, Any]] = []
    receivers = []
    for name in ("forge_installed", "forge_upgraded"):

        def receiver(sender: Any, installation: Any, event: Any, _name=name, **kwargs: Any):
            seen.append((_name, installation.installation_id, event))

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    yield seen
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


def post(client, forge_host, body: Any):
    sent = forge_host.invocation_headers(kind="event", module_key="forge-lifecycle-trigger")
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in sent.items()}
    return client.post(
        "/forge/lifecycle", json.dumps(body), content_type="application/json", **meta
    )


def documented(forge_host, event: str) -> dict[str, Any]:
    """The body as the events reference shows it: the event fields, no eventType."""
    body = lifecycle_body(event, forge_host.installation(), forge_host.directory)
    del body["eventType"]
    return body


@pytest.mark.parametrize(
    ("event", "changes", "expected", "why"),
    [
        (INSTALLED, {}, INSTALLED, "installerAccountId"),
        (UPGRADED, {}, UPGRADED, "upgraderAccountId"),
        (UPGRADED, {"upgraderAccountId": None}, UPGRADED, "upgraderAccountId"),
        (INSTALLED, {"permissions": {"scopes": []}}, UPGRADED, "permissions"),
        (INSTALLED, {"previousApp": {"version": "1.0.0"}}, UPGRADED, "previousApp"),
    ],
)
def test_the_event_is_read_from_the_shape(
    client, forge_host, announced, caplog, event, changes, expected, why
):
    body = {**documented(forge_host, event), **changes}
    with caplog.at_level(logging.INFO, "django_atlassian_connect"):
        response = post(client, forge_host, body)
    assert response.status_code == 204, response.content
    installation_id = forge_host.installation().id
    ((name, who, announced_event),) = announced
    assert name == {INSTALLED: "forge_installed", UPGRADED: "forge_upgraded"}[expected]
    assert who == installation_id and announced_event.installation_id == installation_id
    assert announced_event.event_type == expected
    assert f"read as {expected} from its {why} field" in caplog.text


def test_an_id_alone_is_an_installation(client, forge_host, announced):
    body = {"id": forge_host.installation().uuid}
    assert post(client, forge_host, body).status_code == 204
    assert [(n, who) for n, who, _ in announced] == [
        ("forge_installed", forge_host.installation().id)
    ]


def test_an_inferred_event_is_announced_once_across_retries(client, forge_host, announced):
    body = documented(forge_host, INSTALLED)
    retry = {**body, "retryContext": {"retryData": None, "retryCount": 1, "retryReason": "x"}}
    assert post(client, forge_host, body).status_code == 204
    assert post(client, forge_host, {"payload": retry}).status_code == 204
    assert len(announced) == 1


def test_the_body_still_must_name_the_fits_installation(client, forge_host, announced):
    other = forge_host.add_installation("jira")
    body = {**documented(forge_host, INSTALLED), "id": other.uuid}
    response = post(client, forge_host, body)
    assert response.status_code == 400 and response.json()["code"] == "payload_invalid"
    assert ForgeInstallation.objects.count() == 0 and announced == []


@pytest.mark.parametrize("body", [{}, {"installerAccountId": "557058:x"}, {"app": "x", "id": 5}])
def test_no_lifecycle_shape_is_400(client, forge_host, announced, body):
    response = post(client, forge_host, body)
    assert response.status_code == 400
    assert "no eventType" in response.json()["detail"]
    assert ForgeInstallation.objects.count() == 0 and announced == []


def test_infer_lifecycle_type_says_why():
    assert events.infer_lifecycle_type({"app": {}}) == (
        INSTALLED,
        "no field only an upgrade carries",
    )
    assert events.infer_lifecycle_type({"id": "x", "upgrade": True}) == (
        UPGRADED,
        "its upgrade field",
    )
    assert events.infer_lifecycle_type({"issue": {}}) is None
