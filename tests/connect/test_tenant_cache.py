"""The warm path: authenticated requests and outbound signing without database queries."""

from __future__ import annotations

import pytest
import responses
from django.core.cache import cache

from django_atlassian_connect.connect import tenant_cache
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.models import SharedSecret, Tenant
from tests.conftest import assert_accepted
from tests.connect.tenant_cache_support import Clock, authenticate, change_behind_our_back

pytestmark = pytest.mark.django_db


def test_warm_authentication_makes_no_query(installed_site, rf, django_assert_num_queries):
    authenticate(rf, installed_site)  # cold: fills the cache
    with django_assert_num_queries(0):
        _user, auth = authenticate(rf, installed_site)
    assert auth.client_key == installed_site.client_key


def test_cold_authentication_is_two_queries(installed_site, rf, django_assert_num_queries):
    cache.clear()
    with django_assert_num_queries(2):  # the tenant, its secrets
        authenticate(rf, installed_site)


def test_rotation_takes_effect_at_once(installed_site, rf, django_assert_num_queries):
    authenticate(rf, installed_site)
    assert installed_site.install(secret="rotated-" + "n" * 40).status_code == 204
    _user, auth = authenticate(rf, installed_site)  # signed with the new secret
    assert not auth.signed_with_retired_secret
    with django_assert_num_queries(0):
        authenticate(rf, installed_site)


def test_uninstall_is_refused_at_once(installed_site, rf, client):
    authenticate(rf, installed_site)
    token = installed_site.page_token("/page")
    assert_accepted(client.get("/page", {"jwt": token}), installed_site)
    assert installed_site.uninstall().status_code == 204
    assert client.get("/page", {"jwt": token}).json()["code"] == "tenant_uninstalled"


def test_disable_is_refused_at_once(installed_site, client):
    token = installed_site.page_token("/page")
    assert_accepted(client.get("/page", {"jwt": token}), installed_site)
    assert installed_site.hs_callback("disabled").status_code == 204
    assert client.get("/page", {"jwt": token}).json()["code"] == "tenant_disabled"


def test_stale_entry_from_another_process_is_corrected_on_refusal(installed_site, rf):
    """Another process rotated the secret and its cache refresh never reached us."""
    authenticate(rf, installed_site)
    key = tenant_cache.cache_key(installed_site.client_key)
    stale = cache.get_many([key, key + ":version"])
    assert installed_site.install(secret="rotated-" + "p" * 40).status_code == 204
    cache.set_many(stale)  # as if this process never saw the rotation
    tenant_cache.clear_process_memory()
    _user, auth = authenticate(rf, installed_site)  # new secret: verified after one DB reload
    assert (
        auth.secret_fingerprint
        == Tenant.objects.get(client_key=installed_site.client_key).current_secret.fingerprint
    )


def test_the_shared_cache_holds_no_plaintext_secret(installed_site, rf):
    authenticate(rf, installed_site)
    version, snapshot = cache.get(tenant_cache.cache_key(installed_site.client_key))
    assert isinstance(snapshot, tenant_cache.TenantSnapshot)
    assert cache.get(tenant_cache.cache_key(installed_site.client_key) + ":version") == version
    assert installed_site.secret not in repr(snapshot)
    import pickle

    assert installed_site.secret.encode() not in pickle.dumps(snapshot)


def test_cache_outage_falls_back_to_the_database(installed_site, rf, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "broken": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        },
    }
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_ALIAS": "broken"}
    _user, auth = authenticate(rf, installed_site)
    assert auth.client_key == installed_site.client_key


def test_cache_can_be_disabled(installed_site, rf, settings, django_assert_num_queries):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_ALIAS": None}
    authenticate(rf, installed_site)
    with django_assert_num_queries(2):
        authenticate(rf, installed_site)


def test_outbound_signing_makes_no_query_when_warm(installed_site, django_assert_num_queries):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    with responses.RequestsMock() as rsps:
        rsps.add_passthru("http://127.0.0.1:")
        rsps.get(f"{tenant.base_url}/rest/api/3/myself", json={})
        session = ConnectClient(tenant).as_app()
        session.get("/rest/api/3/myself")
        with django_assert_num_queries(0):
            session.get("/rest/api/3/myself")


def test_purge_refreshes_the_cache(installed_site, rf):
    from datetime import timedelta

    from django.utils import timezone

    from django_atlassian_connect.maintenance import purge_retired_secrets

    old_token = installed_site.page_token("/drf/page")
    assert installed_site.install(secret="rotated-" + "q" * 40).status_code == 204
    authenticate(rf, installed_site, token=old_token)  # caches both secrets
    SharedSecret.objects.filter(retired_at__isnull=False).update(
        retired_at=timezone.now() - timedelta(days=60)
    )
    tenant_cache.forget(installed_site.client_key)
    authenticate(rf, installed_site)
    assert purge_retired_secrets() == 1
    snapshot, _ = tenant_cache.get(installed_site.client_key)
    assert len(snapshot.secrets) == 1


# -- bounded staleness and forged-token floods -----------------------------------------


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(tenant_cache.time, "monotonic", fake)
    return fake


def test_private_cache_sees_another_process_uninstall_within_the_interval(
    installed_site, rf, clock, django_assert_num_queries
):
    authenticate(rf, installed_site)  # warm
    change_behind_our_back(installed_site.client_key, is_installed=False)
    clock.now += 0.5  # inside TENANT_CACHE_REVALIDATE (1 s): the snapshot is trusted
    with django_assert_num_queries(0):
        authenticate(rf, installed_site)
    clock.now += 0.6  # past it: one cheap check, then the reload
    with pytest.raises(Exception) as refused:
        authenticate(rf, installed_site)
    assert refused.value.error.code == "tenant_uninstalled"


def test_private_cache_revalidation_costs_one_query_a_second(
    installed_site, rf, clock, django_assert_num_queries
):
    authenticate(rf, installed_site)
    for _ in range(3):
        clock.now += 1.0
        with django_assert_num_queries(1):  # updated_at unchanged: nothing reloaded
            authenticate(rf, installed_site)
        with django_assert_num_queries(0):
            authenticate(rf, installed_site)


def test_a_thousand_forged_tokens_cost_at_most_two_queries_and_rewrite_nothing(
    installed_site, rf, clock, django_assert_max_num_queries
):
    authenticate(rf, installed_site)
    key = tenant_cache.cache_key(installed_site.client_key)

    def shared_entry():
        version, snapshot = cache.get(key)
        return cache.get(key + ":version"), version, snapshot.values, snapshot.secrets

    shared_before = shared_entry()
    forged = installed_site.page_token("/drf/page", secret="forged-" + "f" * 40)
    codes = set()
    with django_assert_max_num_queries(2):
        for i in range(1_000):
            clock.now += 0.001  # a second of flood
            with pytest.raises(Exception) as refused:
                authenticate(rf, installed_site, token=forged)
            codes.add(refused.value.error.code)
    assert codes == {"signature_invalid"}
    # Another process's view of the shared entry is exactly what it was.
    assert shared_entry() == shared_before
    _user, auth = authenticate(rf, installed_site)  # the real tenant still works
    assert auth.client_key == installed_site.client_key


def test_a_refused_token_still_finds_a_rotation_made_elsewhere(installed_site, rf, clock):
    """The flood guard must not lock out a genuine new secret for longer than the interval."""
    authenticate(rf, installed_site)
    key = tenant_cache.cache_key(installed_site.client_key)
    stale = cache.get_many([key, key + ":version"])
    assert installed_site.install(secret="rotated-" + "r" * 40).status_code == 204
    cache.set_many(stale)
    tenant_cache.clear_process_memory()
    clock.now += 1.0
    _user, auth = authenticate(rf, installed_site)
    assert not auth.signed_with_retired_secret


def test_a_secret_change_alone_moves_the_tenants_updated_at(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    before = tenant.updated_at
    secret = tenant.current_secret
    secret.retired_at = secret.became_current_at
    secret.save()
    tenant.refresh_from_db()
    assert tenant.updated_at > before


# -- the tenant's state is told only to a caller holding its secret --------------------------


@pytest.mark.parametrize("state_change", ["uninstall", "disable"])
def test_a_forged_token_learns_nothing_of_the_tenant_state(installed_site, client, state_change):
    if state_change == "uninstall":
        assert installed_site.uninstall().status_code == 204
    else:
        assert installed_site.hs_callback("disabled").status_code == 204
    forged = installed_site.page_token("/page", secret="forged-" + "g" * 40)
    body = client.get("/page", {"jwt": forged}).json()
    assert body["code"] == "signature_invalid"
    assert "uninstalled" not in body["detail"] and "disabled" not in body["detail"]
    genuine = installed_site.page_token("/page")
    expected = "tenant_uninstalled" if state_change == "uninstall" else "tenant_disabled"
    assert client.get("/page", {"jwt": genuine}).json()["code"] == expected
