"""This project's own test of the plugin's connect_on_forge fixture."""

from django_atlassian_connect.models import ForgeInstallation


def test_one_site_installed_both_ways(connect_on_forge):
    tenant = connect_on_forge.tenant
    row = ForgeInstallation.objects.get(installation_id=connect_on_forge.installation_id)
    assert row.tenant_id == tenant.pk
    assert row.link_method == "connect_install"
    assert tenant.client_key == connect_on_forge.host.client_key
    assert tenant.installation_id == connect_on_forge.installation_id
    assert row.cloud_id == tenant.cloud_id == connect_on_forge.cloud_id

    forge = connect_on_forge.forge_client.get("/forge/whoami")
    assert forge.status_code == 200, forge.content
    assert forge.json() == {
        "installationId": connect_on_forge.installation_id,
        "clientKey": tenant.client_key,
        "accountId": connect_on_forge.account_id,
    }
    connect = connect_on_forge.connect_client.context_get("/api/whoami")
    assert connect.json() == {
        "clientKey": tenant.client_key,
        "accountId": connect_on_forge.account_id,
    }
