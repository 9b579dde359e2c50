"""Housekeeping functions, their Celery tasks and the management command."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_atlassian_connect import maintenance, signals, tasks
from django_atlassian_connect.celery import BEAT_SCHEDULE
from django_atlassian_connect.models import SharedSecret, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def rotated(installed_site):
    installed_site.install(secret="second-" + "2" * 40)
    return Tenant.objects.get(client_key=installed_site.client_key)


def test_purge_keeps_history_but_drops_old_material(rotated, settings):
    retired = SharedSecret.objects.get(tenant=rotated, retired_at__isnull=False)
    assert maintenance.purge_retired_secrets() == 0  # retired just now: kept
    SharedSecret.objects.filter(pk=retired.pk).update(
        retired_at=timezone.now() - timedelta(days=31)
    )
    assert maintenance.purge_retired_secrets() == 1
    assert maintenance.purge_retired_secrets() == 0  # idempotent
    retired.refresh_from_db()
    assert retired.secret is None and retired.purged_at and retired.fingerprint
    assert rotated.current_secret.secret == "second-" + "2" * 40


def test_retention_is_never_shorter_than_the_grace_period(rotated, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "SECRET_RETENTION": 0,
        "SECRET_GRACE_PERIOD": 900,
    }
    SharedSecret.objects.filter(retired_at__isnull=False).update(
        retired_at=timezone.now() - timedelta(seconds=600)
    )
    assert maintenance.purge_retired_secrets() == 0


def test_verify_installation_outcomes(rotated, rsps, django_capture_on_commit_callbacks):
    url = f"{rotated.base_url}/rest/api/3/myself"
    rsps.get(url, json={"accountType": "app"})
    assert maintenance.verify_installations() == {
        "ok": 1,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
    }
    received = []
    signals.installation_verification_failed.connect(
        lambda **kw: received.append(kw), weak=False, dispatch_uid="v"
    )
    try:
        rsps.replace(responses.GET, url, status=401, json={"message": "Unauthorized"})
        with django_capture_on_commit_callbacks(execute=True):
            assert maintenance.verify_installation(rotated) == "unauthorized"
    finally:
        signals.installation_verification_failed.disconnect(dispatch_uid="v")
    tenant = Tenant.objects.get(pk=rotated.pk)
    assert tenant.verification_status == "unauthorized" and "stale" in tenant.verification_detail
    assert received and received[0]["tenant"].pk == rotated.pk
    rsps.replace(responses.GET, url, status=403)
    assert maintenance.verify_installation(rotated) == "forbidden"
    rsps.replace(responses.GET, url, body=ConnectionError("down"))
    assert maintenance.verify_installation(rotated) == "error"


def test_confluence_uses_its_own_endpoint(rotated):
    rotated.product_type = "confluence"
    assert maintenance.verify_endpoint(rotated) == "/rest/api/user/current"


def test_tasks_run_the_same_functions(rotated, rsps):
    rsps.get(f"{rotated.base_url}/rest/api/3/myself", json={})
    assert tasks.purge_retired_secrets.apply().get() == 0
    assert tasks.refresh_access_tokens.apply().get() == {"refreshed": 0, "failed": 0}
    assert tasks.verify_installations.apply().get()["ok"] == 1
    assert tasks.purge_seen_tokens.apply().get() == 0  # the install token has not expired
    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert scheduled == {
        tasks.purge_retired_secrets.name,
        tasks.purge_seen_tokens.name,
        tasks.refresh_access_tokens.name,
        tasks.refresh_oauth_grants.name,
        tasks.report_forge_tokens.name,
        tasks.report_silent_forge_installations.name,
        tasks.verify_installations.name,
    }


def test_housekeeping_command(rotated, rsps):
    rsps.get(f"{rotated.base_url}/rest/api/3/myself", json={})
    out = StringIO()
    call_command("connect_housekeeping", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert json.loads(lines["verify_installations"])["ok"] == 1
    assert json.loads(lines["purge_retired_secrets"]) == 0
    assert json.loads(lines["purge_seen_tokens"]) == 0
    with pytest.raises(CommandError):
        call_command("connect_housekeeping", "nonsense")


def test_verification_against_the_shipped_simulated_site(connect_host, connect_tenant):
    """The plugin's site checks our JWT as Jira does: in sync, "ok"; our copy of the
    secret wrong (a missed reinstall), "unauthorized" for that tenant, and its row says so."""
    from django_atlassian_connect import tenant_cache

    assert maintenance.verify_installations() == {
        "ok": 1,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
    }
    assert Tenant.objects.get(pk=connect_tenant.pk).verification_status == "ok"

    SharedSecret.objects.filter(tenant=connect_tenant, retired_at__isnull=True).update(
        secret="not-the-sites-secret-" + "x" * 32
    )
    tenant_cache.refresh(connect_tenant.client_key)
    assert maintenance.verify_installation(Tenant.objects.get(pk=connect_tenant.pk)) == (
        "unauthorized"
    )
    row = Tenant.objects.get(pk=connect_tenant.pk)
    assert row.client_key == connect_host.client_key
    assert row.verification_status == "unauthorized"
