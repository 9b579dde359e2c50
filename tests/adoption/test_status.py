"""forge_manifest --status: what is left before the app is fully adopted."""

from __future__ import annotations

import pytest
from django.utils import timezone

from django_atlassian_connect.models import ForgeInstallation, Tenant
from tests.adoption.support import forge_manifest, generate, save

pytestmark = pytest.mark.django_db

INSTALLATION = "ari:cloud:ecosystem::installation/{}1111111-2222-4333-8444-555555555555"


def tenant(client_key: str, *, installed: bool = True) -> Tenant:
    return Tenant.objects.create(
        client_key=client_key,
        app_key="com.example.tests",
        base_url=f"https://{client_key.split(':')[1]}.atlassian.net",
        is_installed=installed,
    )


def installation(n: int, owner: Tenant | None = None, **fields) -> ForgeInstallation:
    return ForgeInstallation.objects.create(
        installation_id=INSTALLATION.format(n),
        product="jira",
        cloud_id=f"cloud-{n}",
        tenant=owner,
        **fields,
    )


def status_of(tmp_path, text: str) -> list[str]:
    run = forge_manifest("--status", str(save(tmp_path, text)))
    assert run.error is None, run.error
    return run.out.splitlines()


def test_status_lists_modules_scopes_and_the_unlinked(configure, full_urls, tmp_path):
    configure(
        SCOPES=["READ", "ACT_AS_USER"],
        DESCRIPTOR={
            "modules": {
                "generalPages": [{"key": "a", "url": "/a"}, {"key": "b", "url": "/b"}],
                "webhooks": [{"event": "jira:issue_created", "url": "/hook"}],
            }
        },
    )
    linked = tenant("jira:linked")
    installation(1, linked)
    tenant("jira:waiting")  # installed, no Forge installation
    tenant("jira:gone", installed=False)  # uninstalled: not in the way
    installation(2)  # a Forge installation no tenant claims
    installation(3, uninstalled_at=timezone.now())  # gone: not in the way
    assert status_of(tmp_path, generate().out) == [
        "Connect modules left: 4",
        "  jira:generalPages: 2",
        "  jira:lifecycle: 1",
        "  jira:webhooks: 1",
        "Connect scopes left: 2",
        "  read:connect-jira",
        "  act-as-user:connect-jira",
        "Connect tenants with no linked Forge installation: 1",
        "  jira:waiting https://waiting.atlassian.net",
        "Forge installations not linked to a tenant: 1",
        f"  {INSTALLATION.format(2)} jira cloud-2",
        "Not fully adopted: 4 Connect module(s), 2 Connect scope(s), 1 tenant(s) not linked, "
        "1 Forge installation(s) not linked.",
    ]


def test_a_superseded_installation_does_not_count_as_linked(configure, full_urls, tmp_path):
    owner = tenant("jira:moved")
    installation(1, owner, superseded_at=timezone.now())
    lines = status_of(tmp_path, "app: {}\n")
    assert "  jira:moved https://moved.atlassian.net" in lines


def test_fully_adopted(configure, full_urls, tmp_path):
    owner = tenant("jira:done")
    installation(1, owner)
    text = "app: {}\nmodules: {}\npermissions:\n  scopes:\n    read:jira-work: {}\n"
    assert status_of(tmp_path, text) == [
        "Connect modules left: 0",
        "Connect scopes left: 0",
        "Connect tenants with no linked Forge installation: 0",
        "Forge installations not linked to a tenant: 0",
        "Fully adopted: no Connect module, scope or unlinked installation is left.",
    ]


def test_status_needs_no_settings_beyond_the_database(configure, full_urls, tmp_path):
    configure(FORGE_APP_ID=None, FORGE_PRODUCT=None)
    assert status_of(tmp_path, "connectModules:\n  jira:lifecycle:\n    - key: l\n")[:2] == [
        "Connect modules left: 1",
        "  jira:lifecycle: 1",
    ]
