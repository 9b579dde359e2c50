"""The example project's Forge product events and preUninstall, over real HTTP.

The example project runs as a real server on 127.0.0.1; a simulated Connect
site installs it with the Forge installationId (so the installation is
linked to its tenant) and the simulated Forge platform delivers what Forge
delivers. Its ``avi:jira:created:issue`` receiver records the issue in the
same list as the Connect webhook (``IssueEvent``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_atlassian_connect.testing.forge import ForgePlatform
from django_atlassian_connect.testing.host import ConnectHost

from .conftest import ExampleApp, forge_example_app

pytestmark = pytest.mark.e2e

APP_KEY = "com.example.django-connect-demo"
# Of this site's tenant only: the e2e database is shared by every e2e module in CI.
SHOW_EVENTS = (
    "from connect_demo.models import IssueEvent; "
    "print([(e.tenant.client_key, e.event, e.issue_key) "
    "for e in IssueEvent.objects.filter(tenant__client_key={client_key!r})])"
)
SHOW_UNINSTALLED = (
    "from django_atlassian_connect.models import ForgeInstallation; "
    "print(ForgeInstallation.objects.get(installation_id={id!r}).uninstalled_at is not None)"
)


def shell(app: ExampleApp, code: str) -> str:
    result = app.manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def site() -> Iterator[ConnectHost]:
    with ConnectHost(product="jira") as host:
        yield host


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgePlatform]:
    with ForgePlatform(connect_key=APP_KEY) as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        yield platform


@pytest.fixture(scope="module")
def app(tmp_path_factory, site, forge) -> Iterator[ExampleApp]:
    with forge_example_app(tmp_path_factory.mktemp("forge-events"), site, forge) as example:
        yield example


@pytest.fixture(scope="module")
def installation(app, site, forge) -> Any:
    inst = forge.add_installation("jira", site_url=site.base_url)
    response = site.install(app.base_url + "/atlassian-connect.json", installation_id=inst.id)
    assert response.status_code == 204, response.text
    return inst


def test_an_issue_created_event_reaches_the_receiver_once(app, site, forge, installation):
    attempts = forge.deliver_event("avi:jira:created:issue", installation)
    assert [a.status for a in attempts] == [204]
    key = attempts[0].body["issue"]["key"]
    # Forge redelivers the same event (its answer was lost): acknowledged, not recorded again.
    retry = {**attempts[0].body, "retryContext": {"retryCount": 1, "retryData": None}}
    again = forge.deliver_event("avi:jira:created:issue", installation, payload=retry)
    assert [a.status for a in again] == [204]
    assert shell(app, SHOW_EVENTS.format(client_key=site.client_key)) == repr(
        [(site.client_key, "avi:jira:created:issue", key)]
    )
    assert f"forge avi:jira:created:issue for installation {installation.id}: issue {key}" in (
        app.log()
    )


def test_a_bad_event_body_is_400(app, forge, installation):
    attempts = forge.deliver_event(
        "avi:jira:created:issue", installation, payload={"eventType": "jira:issue_created"}
    )
    assert all(a.status == 400 for a in attempts)
    assert attempts[0].response.json()["code"] == "forge_event_type_invalid"


def test_pre_uninstall_marks_the_installation(app, forge, installation):
    attempt = forge.uninstall(installation)
    assert attempt is not None and attempt.status == 204, attempt
    assert shell(app, SHOW_UNINSTALLED.format(id=installation.id)) == "True"
