"""Forge installations linked to Connect tenants by the signed install and by the cloudId."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from django_atlassian_connect.forge import linking
from django_atlassian_connect.forge.installations import link_connect_install, record_invocation
from django_atlassian_connect.models import ForgeInstallation, Tenant
from tests.forge.installations_support import install_connect, invocation

pytestmark = pytest.mark.django_db


# -- linking (a): the signed Connect install -----------------------------------------------------


def test_an_invocation_links_the_tenant_whose_signed_install_named_it(forge_host, site):
    inst = forge_host.installation()
    tenant = install_connect(site, inst.id)
    row = ForgeInstallation.objects.get(installation_id=inst.id)  # the install created it
    assert row.tenant == tenant and row.link_method == "connect_install"
    assert row.first_seen_at is None and row.cloud_id == ""
    row = record_invocation(invocation(forge_host))
    assert row.tenant == tenant and row.link_method == "connect_install"
    assert row.cloud_id == inst.cloud_id and row.first_seen_at is not None
    assert ForgeInstallation.objects.count() == 1


def test_a_connect_install_links_an_installation_seen_before(forge_host, site):
    inst = forge_host.installation()
    row = record_invocation(invocation(forge_host))
    assert row.tenant is None
    tenant = install_connect(site, inst.uuid)  # a bare uuid names it too
    row.refresh_from_db()
    assert row.tenant == tenant and row.link_method == "connect_install"
    assert list(tenant.forge_installations.all()) == [row]


def test_tenants_installed_before_the_installation_was_stored_are_linked(forge_host, site):
    inst = forge_host.installation()
    tenant = install_connect(site)
    Tenant.objects.filter(pk=tenant.pk).update(installation_id=inst.id)  # an older install
    row = record_invocation(invocation(forge_host))
    assert row.tenant_id == tenant.pk and row.link_method == "connect_install"


def test_a_reinstall_with_a_new_installation_id_keeps_the_old_one_as_history(forge_host, site):
    first = forge_host.installation()
    tenant = install_connect(site, first.id)
    record_invocation(invocation(forge_host, first))
    second = forge_host.add_installation("jira", cloud_id=first.cloud_id)
    install_connect(site, second.id)
    old, new = (ForgeInstallation.objects.get(installation_id=i.id) for i in (first, second))
    assert old.tenant_id == new.tenant_id == tenant.pk
    assert old.superseded_at is not None and new.superseded_at is None
    assert new.link_method == "connect_install"
    # An upgrade's install names the same id again: nothing moves.
    install_connect(site, second.id)
    new.refresh_from_db()
    assert new.superseded_at is None
    assert (
        ForgeInstallation.objects.get(installation_id=first.id).superseded_at == old.superseded_at
    )


def test_an_install_with_a_malformed_installation_id_is_accepted_and_links_nothing(site):
    tenant = install_connect(site, "not-an-installation")
    assert tenant.installation_id == "not-an-installation"
    assert ForgeInstallation.objects.count() == 0


def test_a_signed_install_moves_a_weaker_link(forge_host, site_factory):
    inst = forge_host.installation()
    first, second = site_factory(), site_factory()
    tenant_a, tenant_b = install_connect(first), install_connect(second)
    row = record_invocation(invocation(forge_host))
    linking.link(row, tenant_a, "cloud_id", datetime.now(tz=UTC))
    row.save()
    link_connect_install(tenant_b, inst.id)
    row.refresh_from_db()
    assert row.tenant_id == tenant_b.pk and row.link_method == "connect_install"


# -- linking (b): the same cloudId as a linked installation --------------------------------------


def test_a_new_installation_on_a_linked_site_is_linked_by_cloud_id(forge_host, site):
    first = forge_host.installation()
    tenant = install_connect(site, first.id)
    record_invocation(invocation(forge_host, first))
    # Reinstalled without a Connect callback: a new id on the same site.
    second = forge_host.add_installation("jira", cloud_id=first.cloud_id)
    row = record_invocation(invocation(forge_host, second))
    assert row.tenant_id == tenant.pk and row.link_method == "cloud_id"
    # The id the tenant's signed install names stays current.
    assert ForgeInstallation.objects.get(installation_id=first.id).superseded_at is None


def test_cloud_id_link_supersedes_an_inferred_older_one(forge_host, site):
    first = forge_host.installation()
    tenant = install_connect(site)  # no installationId: the link came from the app property
    row = record_invocation(invocation(forge_host, first))
    linking.link(row, tenant, "app_property", datetime.now(tz=UTC))
    row.save()
    second = forge_host.add_installation("jira", cloud_id=first.cloud_id)
    new = record_invocation(invocation(forge_host, second))
    assert new.tenant_id == tenant.pk and new.link_method == "cloud_id"
    old = ForgeInstallation.objects.get(installation_id=first.id)
    assert old.tenant_id == tenant.pk and old.superseded_at is not None


@pytest.mark.parametrize("case", ["two_tenants", "uninstalled", "other_product"])
def test_cloud_id_never_links_when_it_is_not_exactly_one_installed_tenant(
    forge_host, site_factory, case
):
    first = forge_host.installation()
    site_a = site_factory()
    install_connect(site_a, first.id)
    record_invocation(invocation(forge_host, first))
    if case == "two_tenants":
        other = forge_host.add_installation("jira", cloud_id=first.cloud_id)
        install_connect(site_factory(), other.id)
        record_invocation(invocation(forge_host, other))
    elif case == "uninstalled":
        assert site_a.uninstall().status_code == 204
    product = "confluence" if case == "other_product" else "jira"
    new = forge_host.add_installation(product, cloud_id=first.cloud_id)
    row = record_invocation(invocation(forge_host, new))
    assert row.tenant is None and row.link_method == ""


def test_a_first_installation_is_linked_by_the_cloud_id_a_signed_install_carried(
    forge_host, site_factory
):
    inst = forge_host.installation()
    site = site_factory()
    response = site.install(cloudId=inst.cloud_id)  # no installationId in this install
    assert response.status_code == 204, response.content
    tenant = Tenant.objects.get(client_key=site.client_key)
    assert tenant.cloud_id == inst.cloud_id
    row = record_invocation(invocation(forge_host, inst))
    assert row.tenant_id == tenant.pk and row.link_method == "cloud_id"
    # Another installed tenant of the same site and product: two candidates, no link.
    other_site = site_factory()
    assert other_site.install(cloudId=inst.cloud_id).status_code == 204
    second = forge_host.add_installation("jira", cloud_id=inst.cloud_id)
    assert record_invocation(invocation(forge_host, second)).tenant is None
    # The Confluence installation of the same site is another product's tenant.
    wiki = forge_host.add_installation("confluence", cloud_id=inst.cloud_id)
    assert record_invocation(invocation(forge_host, wiki)).tenant is None


def test_never_linked_by_site_url_alone(forge_host, site):
    tenant = install_connect(site)
    inst = forge_host.add_installation("jira", site_url=tenant.base_url)
    row = record_invocation(invocation(forge_host, inst))
    assert row.site_url == tenant.base_url
    assert row.tenant is None
