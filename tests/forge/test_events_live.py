"""Product events, preUninstall and realm migration end to end, over real HTTP.

The app runs in ``live_server`` on 127.0.0.1; the simulated Forge platform
(real JWKS server, real FITs) sends what Forge sends, with its retries, over
the network, and the database is committed as in production.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import include, path

from django_atlassian_connect import signals
from django_atlassian_connect.forge.housekeeping import report_forge_tokens
from django_atlassian_connect.forge.product_events import (
    disconnect_receiver,
    forge_event_receiver,
)
from django_atlassian_connect.forge.realm import RealmMigrationHandler
from django_atlassian_connect.models import ForgeInstallation, ForgeRealmMigration

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [path("forge/", include("django_atlassian_connect.forge.urls"))]


@pytest.fixture
def forge(transactional_db, forge_host, live_server):
    """``forge_host`` delivering over real HTTP to the live server.

    The test database exists before the (session-wide) live server starts: with
    SQLite, a server started on the ``:memory:`` settings shares one connection
    between threads.
    """
    forge_host.transport = None
    forge_host.remote_base_url = live_server.url
    return forge_host


class Copying(RealmMigrationHandler):
    phases: list[tuple[str, str]] = []

    def schedule(self, migration, context):
        self.phases.append(("schedule", migration.installation.installation_id))

    def start(self, migration, context):
        self.phases.append(("start", migration.installation.installation_id))

    def status(self, migration, context):
        return "ready-to-commit"

    def commit(self, migration, context):
        self.phases.append(("commit", migration.installation.installation_id))


def test_a_product_event_whose_receiver_fails_once_is_run_again_by_the_retry(forge):
    seen: list[tuple[str, int]] = []

    @forge_event_receiver("avi:jira:created:issue")
    def receive(sender: Any, installation: Any, event: Any, **kwargs: Any) -> None:
        seen.append((installation.installation_id, event.retry_count))
        if len(seen) == 1:
            raise RuntimeError("the broker is down")

    try:
        attempts = forge.deliver_event("avi:jira:created:issue")
    finally:
        disconnect_receiver(receive)
    assert [a.status for a in attempts] == [500, 204]
    assert attempts[0].response.json()["code"] == "forge_event_receiver_failed"
    installation_id = forge.installation().id
    assert seen == [(installation_id, 0), (installation_id, 1)]
    row = ForgeInstallation.objects.get()
    assert row.installation_id == installation_id and row.system_token is not None


def test_pre_uninstall_then_housekeeping_leaves_it_alone(forge):
    uninstalled: list[str] = []

    def receiver(sender: Any, installation: Any, **kwargs: Any) -> None:
        uninstalled.append(installation.installation_id)

    signals.forge_pre_uninstall.connect(receiver, weak=False)
    try:
        assert forge.trigger_scheduled().status_code == 204
        attempt = forge.uninstall()
    finally:
        signals.forge_pre_uninstall.disconnect(receiver)
    assert attempt is not None and attempt.status == 204
    installation_id = forge.installation().id
    assert uninstalled == [installation_id]
    assert ForgeInstallation.objects.get(installation_id=installation_id).uninstalled_at
    assert report_forge_tokens(within=10 * 3600) == {"running_out": 0, "expired": 0}


def test_a_realm_migration_over_http(forge, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_REALM_MIGRATION_HANDLER": f"{__name__}.Copying",
    }
    Copying.phases = []
    log = forge.migrate_realm(location="US", migration_id=4242)
    assert [(p, [a.status for a in attempts]) for p, attempts in log] == [
        ("schedule", [200]),
        ("start", [200]),
        ("status", [200]),
        ("commit", [200]),
    ]
    installation_id = forge.installation().id
    assert Copying.phases == [
        ("schedule", installation_id),
        ("start", installation_id),
        ("commit", installation_id),
    ]
    row = ForgeRealmMigration.objects.get()
    assert (row.installation.installation_id, row.migration_id, row.location, row.state) == (
        installation_id,
        "4242",
        "US",
        "committed",
    )
