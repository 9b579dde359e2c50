"""Forge installations: the upsert, the app system token store, linking to Connect tenants.

Real invocations from the simulated Forge platform (``forge_host``), verified
as the front door verifies them, then recorded; Connect installs through the
lifecycle callbacks; the gateway lookup against the simulated gateway.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.core.management import call_command
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django.views import View

from django_atlassian_connect import checks, crypto
from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge import linking, verify_invocation
from django_atlassian_connect.forge.installations import (
    CLIENT_KEY_PROPERTY,
    get_installation,
    installations_running_out,
    link_by_app_property,
    link_connect_install,
    record_invocation,
    stored_system_token,
    system_token_expiry,
    tenants_not_linked,
)
from django_atlassian_connect.models import ForgeInstallation, Tenant
from tests.conftest import Site
from tests.test_imports import PACKAGE, ROOT, build_graph

pytestmark = pytest.mark.django_db

ARI = "ari:cloud:ecosystem::installation/"


def invocation(forge, installation=None, *, system_token=True, kind="ui", account_id=None):
    """A verified ForgeContext, as the front door gets it."""
    if account_id is None and kind == "ui":
        account_id = next(iter(forge.accounts))
    headers = forge.invocation_headers(
        installation, account_id=account_id, kind=kind, system_token=system_token
    )
    return verify_invocation(RequestFactory().post("/forge/any", headers=headers))


def with_token(ctx, token):
    return dataclasses.replace(ctx, system_token=token)


def opaque_token(exp, **claims) -> str:
    return jwt.encode(
        {"exp": exp, **claims},
        "opaque to the app: only exp is read, never verified",
        algorithm="HS256",
    )


def raw_token_column(pk) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT system_token FROM django_atlassian_connect_forgeinstallation WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def install_connect(site: Site, installation_id: str | None = None):
    overrides = {"installationId": installation_id} if installation_id else {}
    response = site.install(**overrides)
    assert response.status_code == 204, response.content
    return Tenant.objects.get(client_key=site.client_key)


# -- the upsert ----------------------------------------------------------------------------------


def test_the_first_invocation_creates_the_installation(forge_host):
    inst = forge_host.installation()
    ctx = invocation(forge_host)
    row = record_invocation(ctx)
    assert row.installation_id == inst.id == ctx.installation_id
    assert (row.product, row.cloud_id, row.api_base_url) == (
        "jira",
        inst.cloud_id,
        inst.api_base_url,
    )
    assert row.app_id == forge_host.app_id
    assert row.environment_type == "PRODUCTION"
    assert row.environment_id == forge_host.environment.id
    assert row.site_url == inst.site_url
    assert row.first_seen_at == row.last_seen_at is not None
    assert row.tenant is None and row.link_method == ""
    issued = forge_host.issued[ctx.system_token]
    assert row.system_token == ctx.system_token
    assert row.system_token_expires_at == datetime.fromtimestamp(issued.exp, tz=UTC)
    assert ForgeInstallation.objects.count() == 1


def test_later_invocations_update_the_row_without_rewriting_the_token(forge_host):
    first = record_invocation(invocation(forge_host))
    ciphertext = raw_token_column(first.pk)
    # A trigger: no siteUrl in its FIT, same token (Forge reuses it while fresh).
    ctx = invocation(forge_host, kind="scheduled")
    assert ctx.site_url is None and ctx.system_token == first.system_token
    with CaptureQueriesContext(connection) as queries:
        row = record_invocation(ctx, now=time.time() + 5)
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(writes) == 1 and "system_token" not in writes[0]
    assert raw_token_column(row.pk) == ciphertext  # Fernet is randomised: same text, not rewritten
    assert row.site_url == first.site_url  # kept: the trigger's FIT has none
    assert row.last_seen_at > first.last_seen_at and row.first_seen_at == first.first_seen_at
    assert ForgeInstallation.objects.count() == 1


def test_the_token_is_stored_encrypted_and_shown_as_a_fingerprint_only(forge_host):
    ctx = invocation(forge_host)
    row = record_invocation(ctx)
    raw = raw_token_column(row.pk)
    assert raw and raw != ctx.system_token and ctx.system_token not in raw
    assert crypto.decrypt(raw) == ctx.system_token
    assert row.system_token_fingerprint == crypto.fingerprint(ctx.system_token)
    fresh = ForgeInstallation.objects.get(pk=row.pk)
    for text in (str(fresh), repr(fresh), repr(fresh.system_token)):
        assert ctx.system_token not in text
    assert row.system_token_fingerprint in repr(fresh)


def test_only_a_token_with_a_later_exp_replaces_the_stored_one(forge_host):
    ctx = invocation(forge_host, system_token=False)
    now = time.time()
    newer, older = opaque_token(int(now) + 7200), opaque_token(int(now) + 3600)
    record_invocation(with_token(ctx, newer), now=now)
    # The older token arrives second (a slower request of the same minute): kept out.
    row = record_invocation(with_token(ctx, older), now=now + 1)
    assert row.system_token == newer
    # The same exp again is not "later" either.
    row = record_invocation(with_token(ctx, opaque_token(int(now) + 7200, jti="x")), now=now + 2)
    assert row.system_token == newer
    latest = opaque_token(int(now) + 7201)
    row = record_invocation(with_token(ctx, latest), now=now + 3)
    assert row.system_token == latest
    assert ForgeInstallation.objects.get().system_token == latest


def test_an_invocation_without_the_header_never_clears_the_token(forge_host):
    stored = record_invocation(invocation(forge_host)).system_token
    row = record_invocation(invocation(forge_host, system_token=False))
    assert ForgeInstallation.objects.get(pk=row.pk).system_token == stored
    row = record_invocation(with_token(invocation(forge_host, system_token=False), ""))
    assert ForgeInstallation.objects.get(pk=row.pk).system_token == stored


def test_token_expiry_is_read_without_verifying_with_a_fallback_and_a_cap():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    in_2h = now + timedelta(hours=2)
    assert system_token_expiry(opaque_token(int(in_2h.timestamp())), now=now) == in_2h
    fallback = now + timedelta(minutes=55)
    for token in ("opaque", "a.b.c", "a.!!!.c", opaque_token("soon"), opaque_token(float("nan"))):
        assert system_token_expiry(token, now=now) == fallback
    no_exp = jwt.encode({"sub": "app"}, "k" * 32, algorithm="HS256")
    assert system_token_expiry(no_exp, now=now) == fallback
    # A claimed far future is capped at the longest life a system token has (4 h).
    assert system_token_expiry(opaque_token(10**12), now=now) == now + timedelta(hours=4)
    assert system_token_expiry(opaque_token(-(10**12)), now=now).year == 1970  # expired


def test_an_already_expired_token_is_not_stored(forge_host):
    ctx = with_token(invocation(forge_host, system_token=False), opaque_token(int(time.time()) - 5))
    row = record_invocation(ctx)
    assert row.system_token is None and row.system_token_expires_at is None


def test_get_installation_by_ari_or_bare_uuid(forge_host):
    inst = forge_host.installation()
    row = record_invocation(invocation(forge_host))
    assert get_installation(inst.id) == row
    assert get_installation(inst.uuid) == row
    assert get_installation(ARI + "00000000-0000-4000-8000-000000000000") is None
    assert get_installation("not an id") is None


# -- races ---------------------------------------------------------------------------------------


def run_at_once(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait(timeout=30)
            results.append(call())
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_first_invocations_racing_for_one_installation_all_succeed(forge_host):
    contexts = [invocation(forge_host) for _ in range(6)]
    results, errors = run_at_once([lambda c=c: record_invocation(c) for c in contexts])
    assert errors == []
    assert len(results) == 6 and len({r.pk for r in results}) == 1
    assert ForgeInstallation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_tokens_leave_the_newest_whatever_the_commit_order(forge_host):
    record_invocation(invocation(forge_host, system_token=False))
    ctx = invocation(forge_host, system_token=False)
    base = int(time.time()) + 3600
    tokens = [opaque_token(base + i) for i in range(8)]
    results, errors = run_at_once(
        [lambda t=t: record_invocation(with_token(ctx, t)) for t in tokens]
    )
    assert errors == [] and len(results) == 8
    row = ForgeInstallation.objects.get()
    assert row.system_token == tokens[-1]
    assert row.system_token_expires_at == datetime.fromtimestamp(base + 7, tz=UTC)


def test_the_loser_of_a_create_race_locks_the_winners_row(forge_host, monkeypatch):
    """The INSERT fails on the unique constraint: the row another process created is used."""
    ctx = invocation(forge_host)
    winner = record_invocation(with_token(ctx, None))
    real = ForgeInstallation._default_manager.select_for_update
    calls = []

    class NotYetCommitted:  # the first look happens before the winner commits
        def filter(self, **kwargs):
            return self

        def first(self):
            return None

    def select_for_update(*args, **kwargs):
        calls.append(1)
        return NotYetCommitted() if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(ForgeInstallation._default_manager, "select_for_update", select_for_update)
    row = record_invocation(ctx)
    assert row.pk == winner.pk and len(calls) == 2
    assert row.system_token == ctx.system_token
    assert ForgeInstallation.objects.count() == 1


# -- the stored token ----------------------------------------------------------------------------


def test_stored_system_token_needs_enough_life(forge_host, settings):
    row = record_invocation(invocation(forge_host))
    assert stored_system_token(row) == row.system_token
    left = (row.system_token_expires_at - datetime.now(tz=UTC)).total_seconds()
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row, min_validity=left + 60)
    error = info.value
    assert error.code == "forge_token_expired" and error.installation is row
    assert row.installation_id in error.detail and row.system_token not in str(error)
    assert "nothing was sent" in error.detail
    # FORGE_TOKEN_MARGIN is the default margin.
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_TOKEN_MARGIN": left + 60}
    with pytest.raises(ConnectClientError):
        stored_system_token(row)
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row, now=row.system_token_expires_at.timestamp() + 1)
    assert "expired at" in info.value.detail


def test_stored_system_token_without_any_token(forge_host):
    row = record_invocation(invocation(forge_host, system_token=False))
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row)
    assert info.value.code == "forge_token_expired"
    assert "no app system token is stored" in info.value.detail


def test_installations_running_out(forge_host):
    soon_inst = forge_host.installation()
    later_inst = forge_host.add_installation("jira")
    never_inst = forge_host.add_installation("confluence")
    now = time.time()
    soon = record_invocation(
        with_token(invocation(forge_host, soon_inst, system_token=False), opaque_token(now + 600))
    )
    record_invocation(
        with_token(invocation(forge_host, later_inst, system_token=False), opaque_token(now + 9000))
    )
    never = record_invocation(invocation(forge_host, never_inst, system_token=False))
    assert list(installations_running_out(within=3600)) == [never, soon]
    assert list(installations_running_out(within=60)) == [never]
    ForgeInstallation.objects.filter(pk=soon.pk).update(superseded_at=datetime.now(tz=UTC))
    assert list(installations_running_out(within=3600)) == [never]


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


# -- system checks -------------------------------------------------------------------------------


def forge_view(request):
    return HttpResponse("forge")


forge_view.connect_token_kind = "forge"  # what C1's decorator sets


class ForgeClassView(View):
    connect_token_kind = "forge"

    def get(self, request):
        return HttpResponse("forge")


class ForgeAuthentication:
    connect_token_kind = "forge"


class DrfLikeView(View):
    authentication_classes = [ForgeAuthentication]


def plain_view(request):
    return HttpResponse("plain")


urlpatterns = [
    path("plain", plain_view),
    path("", include([path("forge/lifecycle", forge_view)])),
    path("nested/", include([path("cbv", ForgeClassView.as_view())])),
]


class DrfUrls:  # a URLconf may be any object with urlpatterns
    urlpatterns = [path("plain", plain_view), path("drf", DrfLikeView.as_view())]


class PlainUrls:
    urlpatterns = [path("plain", plain_view)]


def ids_of(messages):
    return [m.id for m in messages]


def test_e007_when_forge_views_are_routed_without_forge_app_id(settings):
    settings.ROOT_URLCONF = __name__
    assert checks.forge_routes() == ["/forge/lifecycle", "/nested/cbv"]
    (error,) = checks.check_forge_urls()
    assert error.id == "atlassian_connect.E007"
    assert "/forge/lifecycle" in error.msg and "FORGE_APP_ID" in error.hint
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_APP_ID": "ari:cloud:ecosystem::app/11111111-2222-4333-8444-555555555555",
    }
    assert checks.check_forge_urls() == []


def test_e007_sees_drf_views_by_their_authentication_classes(settings):
    settings.ROOT_URLCONF = DrfUrls
    assert checks.forge_routes() == ["/drf"]
    assert ids_of(checks.check_forge_urls()) == ["atlassian_connect.E007"]


def test_no_e007_without_forge_views(settings):
    settings.ROOT_URLCONF = PlainUrls
    assert checks.forge_routes() == []
    assert checks.check_forge_urls() == []


@pytest.mark.parametrize("value", ["not-an-app-id", ["ari:cloud:ecosystem::app/nope"], 42])
def test_e007_for_an_ill_formed_forge_app_id(settings, value):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": value}
    (error,) = checks.check_forge_settings()
    assert error.id == "atlassian_connect.E007" and "app.id" in error.hint


def test_no_e007_for_a_good_or_missing_forge_app_id(settings):
    assert checks.check_forge_settings() == []
    uuid = "11111111-2222-4333-8444-555555555555"
    for value in (uuid, "ari:cloud:ecosystem::app/" + uuid, [uuid]):
        settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": value}
        assert checks.check_forge_settings() == []


def test_w003_counts_installed_tenants_without_a_forge_installation(forge_host, site_factory):
    install_connect(site_factory(), forge_host.installation().id)
    install_connect(site_factory())
    install_connect(site_factory())
    (warning,) = checks.check_forge_readiness()
    assert warning.id == "atlassian_connect.W003"
    assert warning.msg.startswith("2 installed Connect tenant(s) have no Forge installation")
    assert "2027-01-31" in warning.msg
    assert "manage.py connect_tenants --forge" in warning.hint


def test_no_w003_when_all_are_linked_or_forge_is_off(forge_host, site, settings):
    install_connect(site, forge_host.installation().id)
    assert checks.check_forge_readiness() == []
    Tenant.objects.update(installation_id="")
    ForgeInstallation.objects.all().delete()
    assert ids_of(checks.check_forge_readiness()) == ["atlassian_connect.W003"]
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": None}
    assert checks.check_forge_readiness() == []


def test_w003_is_a_deployment_check(forge_host, site):
    from django.core.checks import run_checks

    install_connect(site)
    assert "atlassian_connect.W003" not in ids_of(run_checks())
    assert "atlassian_connect.W003" in ids_of(run_checks(include_deployment_checks=True))


# -- layering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["forge.installations", "forge.linking"])
def test_the_store_imports_nothing_above_it(module):
    graph, _ = build_graph(ROOT, PACKAGE)
    imported = graph[f"{PACKAGE}.{module}"]
    for forbidden in (
        "views",
        "decorators",
        "authentication",
        "permissions",
        "forge.client",
        "forge.views",
        "forge.events",
        "client",
        "lifecycle",
    ):
        assert f"{PACKAGE}.{forbidden}" not in imported, forbidden
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert "rest_framework" not in source
    assert len(source.splitlines()) < 400
