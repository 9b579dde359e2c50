"""Liveness: current Forge installations that stopped invoking the app.

``silent_installations``, its housekeeping report (function, Celery task,
``connect_housekeeping``) and ``connect_tenants --forge --silent [HOURS]``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_atlassian_connect import maintenance, tasks
from django_atlassian_connect.celery import BEAT_SCHEDULE
from django_atlassian_connect.forge.housekeeping import (
    report_silent_installations,
    silent_installations,
)
from django_atlassian_connect.models import ForgeInstallation, Tenant

NOW = datetime.now(tz=UTC)


def make(name: str, **fields) -> ForgeInstallation:
    fields.setdefault("last_seen_at", NOW - timedelta(minutes=10))
    return ForgeInstallation.objects.create(
        installation_id=f"ari:cloud:ecosystem::installation/{uuid.uuid4()}",
        product="jira",
        cloud_id=str(uuid.uuid4()),
        site_url=f"https://{name}.atlassian.net",
        **fields,
    )


@pytest.fixture
def rows(db) -> dict[str, ForgeInstallation]:
    tenant = Tenant.objects.create(
        client_key="jira:silent-tenant",
        app_key="com.example.tests",
        base_url="https://old.atlassian.net",
        product_type="jira",
    )
    return {
        "fresh": make("fresh"),
        "quiet": make("quiet", last_seen_at=NOW - timedelta(hours=30), tenant=tenant),
        "quieter": make("quieter", last_seen_at=NOW - timedelta(hours=50)),
        "never": make("never", last_seen_at=None),
        "never-linked-now": make("linked", last_seen_at=None, linked_at=NOW),
        "superseded": make("superseded", last_seen_at=NOW - timedelta(days=9), superseded_at=NOW),
        "uninstalled": make(
            "uninstalled", last_seen_at=NOW - timedelta(days=9), uninstalled_at=NOW
        ),
    }


def ids(queryset) -> list[str]:
    return [i.installation_id for i in queryset]


def test_silent_installations_longest_silent_first(rows):
    assert ids(silent_installations(24)) == [
        rows["never"].installation_id,
        rows["quieter"].installation_id,
        rows["quiet"].installation_id,
    ]
    assert ids(silent_installations(40)) == [
        rows["never"].installation_id,
        rows["quieter"].installation_id,
    ]
    # A row linked long ago and still never invoked is silent too.
    rows["never-linked-now"].linked_at = NOW - timedelta(hours=41)
    rows["never-linked-now"].save()
    assert rows["never-linked-now"].installation_id in ids(silent_installations(40))


def test_the_default_is_read_when_used(rows, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_SILENT_AFTER_HOURS": 20}
    assert rows["quiet"].installation_id in ids(silent_installations())
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_SILENT_AFTER_HOURS": 40}
    assert rows["quiet"].installation_id not in ids(silent_installations())


def test_the_report_warns_once_naming_them(rows, caplog):
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        assert report_silent_installations(24) == {"silent": 3, "never_seen": 1}
    (record,) = caplog.records
    assert record.connect_code == "forge_installation_silent"
    message = record.getMessage()
    for name in ("never", "quiet", "quieter"):
        assert rows[name].installation_id in message
    for name in ("fresh", "superseded", "uninstalled", "never-linked-now"):
        assert rows[name].installation_id not in message


def test_nothing_silent_logs_nothing(db, caplog):
    make("fresh")
    with caplog.at_level(logging.WARNING, "django_atlassian_connect"):
        assert report_silent_installations(1) == {"silent": 0, "never_seen": 0}
    assert caplog.records == []


def test_the_task_the_beat_and_the_housekeeping_command_run_it(rows):
    assert tasks.report_silent_forge_installations.name == (
        "django_atlassian_connect.report_silent_forge_installations"
    )
    assert tasks.report_silent_forge_installations.apply(args=(24,)).get() == {
        "silent": 3,
        "never_seen": 1,
    }
    assert maintenance.report_silent_forge_installations(40) == {"silent": 2, "never_seen": 1}
    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert tasks.report_silent_forge_installations.name in scheduled
    out = StringIO()
    call_command("connect_housekeeping", "report_silent_forge_installations", stdout=out)
    # FORGE_SILENT_AFTER_HOURS (48): only the one silent for 50 h and the never-seen one.
    assert out.getvalue().strip() == (
        'report_silent_forge_installations: {"silent": 2, "never_seen": 1}'
    )


def test_connect_tenants_silent_lists_them(rows):
    out = StringIO()
    call_command("connect_tenants", "--forge", "--silent", "24", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    never, quieter, quiet = (line.split("\t") for line in lines[:3])
    assert never[0] == rows["never"].installation_id and never[5:] == ["never seen", "-"]
    assert quieter[0] == rows["quieter"].installation_id and quieter[6] == "50.0 h ago"
    assert quiet[0] == rows["quiet"].installation_id
    assert quiet[1:5] == [
        "jira",
        rows["quiet"].cloud_id,
        "https://quiet.atlassian.net",
        "jira:silent-tenant",
    ]
    assert lines[3].startswith("3 Forge installation(s) silent for more than 24 h")


def test_connect_tenants_silent_without_hours_uses_the_setting(rows, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_SILENT_AFTER_HOURS": 60}
    out = StringIO()
    call_command("connect_tenants", "--forge", "--silent", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("\t")[0] for line in lines[:-1]] == [rows["never"].installation_id]
    assert lines[-1].startswith("1 Forge installation(s) silent for more than 60 h")


def test_connect_tenants_silent_none_and_bad_hours(db):
    out = StringIO()
    call_command("connect_tenants", "--forge", "--silent", "1", stdout=out)
    assert out.getvalue().strip() == "No Forge installation silent for more than 1 h."
    for bad in ("-3", "soon", "nan"):
        with pytest.raises(CommandError, match="hours >= 0"):
            call_command("connect_tenants", "--forge", f"--silent={bad}", stdout=StringIO())
