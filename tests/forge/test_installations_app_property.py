"""Forge installations linked by the Connect clientKey app property, through the gateway."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge.installations import (
    CLIENT_KEY_PROPERTY,
    link_by_app_property,
    record_invocation,
)
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.installations_support import install_connect, invocation, raw_token_column

pytestmark = pytest.mark.django_db


# -- linking (c): the Connect clientKey app property ---------------------------------------------


def test_link_by_app_property_through_the_gateway(forge_host, site):
    tenant = install_connect(site)
    inst = forge_host.add_installation("jira", connect_client_key=site.client_key)
    row = record_invocation(invocation(forge_host, inst))
    assert row.tenant is None
    assert link_by_app_property(row) == tenant
    assert row.tenant_id == tenant.pk and row.link_method == "app_property"
    assert ForgeInstallation.objects.get(pk=row.pk).link_method == "app_property"
    (call,) = forge_host.gateway.calls("system")
    assert call["path"] == (
        f"/ex/jira/{inst.cloud_id}/rest/atlassian-connect/1/addons/{forge_host.connect_key}"
        f"/properties/{CLIENT_KEY_PROPERTY}"
    )
    assert call["status"] == 200 and call["installation_id"] == inst.id
    # Already linked: asking again changes nothing.
    assert link_by_app_property(row) == tenant


def test_link_by_app_property_on_confluence_uses_wiki(forge_host, site):
    tenant = install_connect(site)
    inst = forge_host.add_installation("confluence", connect_client_key=site.client_key)
    row = record_invocation(invocation(forge_host, inst))
    assert link_by_app_property(row) == tenant
    (call,) = forge_host.gateway.calls("system")
    assert call["path"].startswith(f"/ex/confluence/{inst.cloud_id}/wiki/rest/atlassian-connect/")


def test_link_by_app_property_links_only_an_installed_tenant_with_that_client_key(forge_host, site):
    inst = forge_host.add_installation("jira", connect_client_key="jira:no-such-tenant")
    row = record_invocation(invocation(forge_host, inst))
    assert link_by_app_property(row) is None
    tenant = install_connect(site)
    assert site.uninstall().status_code == 204
    inst = forge_host.add_installation("jira", connect_client_key=tenant.client_key)
    row = record_invocation(invocation(forge_host, inst))
    assert link_by_app_property(row) is None
    assert ForgeInstallation.objects.filter(tenant__isnull=False).count() == 0


def test_link_by_app_property_without_a_property(forge_host):
    row = record_invocation(invocation(forge_host))  # a Forge-only installation: 404
    assert link_by_app_property(row) is None
    assert forge_host.gateway.calls("system")[0]["status"] == 404


def test_link_by_app_property_keeps_a_signed_install_link(forge_host, site_factory):
    site_a, site_b = site_factory(), site_factory()
    inst = forge_host.add_installation("jira", connect_client_key=site_b.client_key)
    tenant_a = install_connect(site_a, inst.id)
    install_connect(site_b)
    row = record_invocation(invocation(forge_host, inst))
    assert link_by_app_property(row) is None
    row.refresh_from_db()
    assert row.tenant_id == tenant_a.pk and row.link_method == "connect_install"


def test_link_by_app_property_needs_a_fresh_token_and_sends_nothing_otherwise(forge_host, site):
    install_connect(site)
    inst = forge_host.add_installation("jira", connect_client_key=site.client_key)
    row = record_invocation(invocation(forge_host, inst, system_token=False))
    with pytest.raises(ConnectClientError) as info:
        link_by_app_property(row)
    assert info.value.code == "forge_token_expired"
    assert forge_host.gateway.log == []


@pytest.mark.parametrize(
    "api_base_url",
    [
        "https://evil.example.com/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
        "https://api.atlassian.com.evil.example.com/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
        "http://api.atlassian.com/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
        "https://user:pw@api.atlassian.com/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
    ],
)
def test_the_system_token_never_goes_to_a_host_outside_forge_api_hosts(
    forge_host, settings, rsps, api_base_url
):
    row = record_invocation(invocation(forge_host))
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    row.api_base_url = api_base_url
    with pytest.raises(ConnectClientError) as info:
        link_by_app_property(row)
    assert info.value.code == "url_not_allowed"
    assert row.system_token not in str(info.value)
    assert len(rsps.calls) == 0 and forge_host.gateway.log == []


def test_the_loopback_gateway_is_refused_once_it_is_no_longer_listed(forge_host, settings, rsps):
    row = record_invocation(invocation(forge_host))
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    with pytest.raises(ConnectClientError) as info:
        link_by_app_property(row)
    assert info.value.code == "url_not_allowed"
    assert forge_host.gateway.log == []


def test_the_property_value_may_be_an_object_with_client_key(forge_host, settings, rsps, site):
    tenant = install_connect(site)
    cloud_id = "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"
    row = record_invocation(invocation(forge_host))
    row.api_base_url = f"https://api.atlassian.com/ex/jira/{cloud_id}"
    row.save()
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    url = (
        f"https://api.atlassian.com/ex/jira/{cloud_id}/rest/atlassian-connect/1/addons/"
        f"com.example.tests/properties/{CLIENT_KEY_PROPERTY}"
    )
    rsps.get(url, json={"key": CLIENT_KEY_PROPERTY, "value": {"clientKey": tenant.client_key}})
    assert link_by_app_property(row) == tenant
    (call,) = rsps.calls
    assert call.request.headers["Authorization"] == f"Bearer {row.system_token}"


def test_a_redirect_from_the_gateway_is_not_followed(forge_host, settings, rsps, site):
    install_connect(site)
    cloud_id = "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"
    row = record_invocation(invocation(forge_host))
    row.api_base_url = f"https://api.atlassian.com/ex/jira/{cloud_id}"
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    rsps.get(
        f"https://api.atlassian.com/ex/jira/{cloud_id}/rest/atlassian-connect/1/addons/"
        f"com.example.tests/properties/{CLIENT_KEY_PROPERTY}",
        status=302,
        headers={"Location": "https://evil.example.com/steal"},
    )
    with pytest.raises(ConnectClientError) as info:
        link_by_app_property(row)
    assert info.value.status == 302
    assert [c.request.url.split("/")[2] for c in rsps.calls] == ["api.atlassian.com"]


def test_no_token_reaches_a_log_line(forge_host, site_factory, caplog):
    caplog.set_level("DEBUG", logger="django_atlassian_connect")
    site_a, site_b = site_factory(), site_factory()
    inst = forge_host.add_installation("jira", connect_client_key=site_b.client_key)
    install_connect(site_a, inst.id)
    install_connect(site_b)
    row = record_invocation(invocation(forge_host, inst))
    link_by_app_property(row)  # a conflict: logged, with ids only
    second = forge_host.add_installation("jira", cloud_id=inst.cloud_id)
    record_invocation(invocation(forge_host, second))
    assert "stays linked" in caplog.text and inst.id in caplog.text
    for token in forge_host.issued:
        assert token not in caplog.text


def test_connect_reencrypt_covers_the_system_token(forge_host, settings):
    row = record_invocation(invocation(forge_host))
    before = raw_token_column(row.pk)
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "ENCRYPTION_KEYS": ["a-new-key-for-forge-tokens", "tests-encryption-passphrase"],
    }
    call_command("connect_reencrypt", stdout=io.StringIO())
    after = raw_token_column(row.pk)
    assert after != before
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "ENCRYPTION_KEYS": ["a-new-key-for-forge-tokens"],
    }
    assert ForgeInstallation.objects.get(pk=row.pk).system_token == row.system_token
