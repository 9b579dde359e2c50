"""Tenants not linked to a Forge installation, ``connect_tenants --forge`` and the admin."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_atlassian_connect.forge.installations import record_invocation, tenants_not_linked
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.installations_support import install_connect, invocation, raw_token_column

pytestmark = pytest.mark.django_db


# -- tenants not linked, the command, the admin -------------------------------------------------


def test_tenants_not_linked(forge_host, site_factory):
    linked_site, bare_site, gone_site = site_factory(), site_factory(), site_factory()
    inst = forge_host.installation()
    linked = install_connect(linked_site, inst.id)
    bare = install_connect(bare_site)
    install_connect(gone_site)
    assert gone_site.uninstall().status_code == 204
    assert list(tenants_not_linked()) == [bare]
    # A tenant whose only installation was superseded (and then moved) is not linked either.
    ForgeInstallation.objects.filter(tenant=linked).update(superseded_at=datetime.now(tz=UTC))
    assert sorted(t.pk for t in tenants_not_linked()) == sorted([linked.pk, bare.pk])


def tenants_output(*args: str) -> str:
    out = io.StringIO()
    call_command("connect_tenants", *args, stdout=out)
    return out.getvalue()


def test_connect_tenants_forge_lists_installations_and_marks_the_unready(forge_host, site_factory):
    ready_site, unready_site = site_factory(), site_factory()
    inst = forge_host.installation()
    ready = install_connect(ready_site, inst.id)
    unready = install_connect(unready_site)
    row = record_invocation(invocation(forge_host))
    output = tenants_output("--forge")
    lines = output.splitlines()
    (ready_line,) = [line for line in lines if ready.client_key in line]
    fields = ready_line.split("\t")
    assert fields[:4] == [ready.client_key, ready.base_url, "jira", "installed"]
    assert fields[5:8] == [f"forge {inst.id}", "PRODUCTION", "linked by connect_install"]
    assert fields[8].startswith(f"system token {row.system_token_fingerprint} until ")
    (unready_line,) = [line for line in lines if unready.client_key in line]
    assert unready_line.endswith("\tforge -\tnot ready for Connect end of support (2027-01-31)")
    assert lines[-1] == "1 installed tenant(s) with no Forge installation linked."
    assert row.system_token not in output
    assert ready_site.secret not in output
    # Without --forge the output is as before.
    assert "forge" not in tenants_output()


def test_connect_tenants_forge_when_everyone_is_ready(forge_host, site):
    install_connect(site, forge_host.installation().id)
    assert tenants_output("--forge").splitlines()[-1] == (
        "Every installed tenant has a Forge installation linked."
    )


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    client.force_login(user)
    return client


def test_the_admin_never_shows_the_system_token(forge_host, site, staff):
    inst = forge_host.installation()
    tenant = install_connect(site, inst.id)
    row = record_invocation(invocation(forge_host))
    token = row.system_token
    pages = [
        reverse("admin:django_atlassian_connect_forgeinstallation_changelist"),
        reverse("admin:django_atlassian_connect_forgeinstallation_change", args=[row.pk]),
        reverse("admin:django_atlassian_connect_tenant_change", args=[tenant.pk]),
    ]
    for url in pages:
        response = staff.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert token not in html
        assert token[-40:] not in html
        assert raw_token_column(row.pk) not in html
        assert row.system_token_fingerprint in html
        assert inst.id in html
    search = staff.get(pages[0], {"q": inst.cloud_id}).content.decode()
    assert inst.id in search and token not in search


def test_the_forge_installation_admin_is_read_only(forge_host, staff):
    row = record_invocation(invocation(forge_host))
    add = reverse("admin:django_atlassian_connect_forgeinstallation_add")
    change = reverse("admin:django_atlassian_connect_forgeinstallation_change", args=[row.pk])
    delete = reverse("admin:django_atlassian_connect_forgeinstallation_delete", args=[row.pk])
    assert staff.get(add).status_code == 403
    assert staff.post(change, {"cloud_id": "hijacked", "tenant": ""}).status_code == 403
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.cloud_id == forge_host.installation().cloud_id
