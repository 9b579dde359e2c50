"""The warm path: authenticated requests and outbound signing without database queries."""

from __future__ import annotations

import os
from collections import Counter
from types import SimpleNamespace

import pytest
import responses
from django.core.cache import cache
from rest_framework.request import Request

from django_atlassian_connect.authentication import ConnectJWTAuthentication
from django_atlassian_connect.connect import tenant_cache
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.models import SharedSecret, Tenant
from tests.conftest import assert_accepted

pytestmark = pytest.mark.django_db


def authenticate(rf, site, path="/drf/page", token=None):
    token = token or site.page_token(path)
    request = Request(rf.get(path, HTTP_AUTHORIZATION=f"JWT {token}"))
    return ConnectJWTAuthentication().authenticate(request)


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


class Clock:
    """Stands in for ``time.monotonic`` in tenant_cache."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(tenant_cache.time, "monotonic", fake)
    return fake


def change_behind_our_back(client_key, **fields):
    """What another process's commit looks like to this one: no signal reaches us."""
    from django.utils import timezone

    Tenant.objects.filter(client_key=client_key).update(updated_at=timezone.now(), **fields)


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


# -- the same rule on Redis: no round trip on a warm request ---------------------------------
#
# Against a real Redis (CONNECT_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379/1; `.ci/run` sets
# it); skipped with the reason without one. The keys carry their own prefix and are deleted
# afterwards: nothing else in that database is touched.

REDIS_URL = os.environ.get("CONNECT_TEST_REDIS_URL")
REDIS_PREFIX = "dac-test-tenant-cache"


@pytest.fixture
def redis_tenant_cache(settings):
    """The tenant cache on Redis (alias ``tenants``), its calls counted per method."""
    if not REDIS_URL:
        pytest.skip("CONNECT_TEST_REDIS_URL is not set (a Redis URL; `.ci/run` sets it)")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at CONNECT_TEST_REDIS_URL={REDIS_URL} ({exc})")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "tenants": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        },
    }
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_ALIAS": "tenants"}
    from django.core.cache import caches

    shared = caches["tenants"]
    calls: Counter[str] = Counter()
    for name in ("get", "get_many", "set", "add", "delete", "delete_many"):
        real = getattr(shared, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(shared, name, counted)
    try:
        yield SimpleNamespace(cache=shared, calls=calls)
    finally:
        for key in client.scan_iter(f"{REDIS_PREFIX}:*"):
            client.delete(key)


@pytest.fixture
def process_clock(monkeypatch):
    """``time.monotonic`` as tenant_cache alone sees it (redis-py keeps the real one)."""
    fake = Clock()
    monkeypatch.setattr(tenant_cache, "time", SimpleNamespace(monotonic=fake))
    return fake


def committed_elsewhere(client_key, **fields):
    """Another process commits a change: the database row and the shared entry it
    writes after commit (a new version), with no signal and no memo change here."""
    change_behind_our_back(client_key, **fields)
    shared = tenant_cache._cache()
    snapshot = tenant_cache.load(client_key)
    version = "elsewhere-" + os.urandom(4).hex()
    shared.set(tenant_cache.cache_key(client_key), (version, snapshot), 300)
    shared.set(tenant_cache.cache_key(client_key) + ":version", version, 300)


def test_redis_warm_authentication_makes_no_redis_call_and_no_query(
    installed_site, rf, redis_tenant_cache, process_clock, django_assert_num_queries
):
    authenticate(rf, installed_site)  # cold: database, then Redis written
    redis_tenant_cache.calls.clear()
    with django_assert_num_queries(0):
        for _ in range(50):
            process_clock.now += 0.01  # half a second of traffic
            _user, auth = authenticate(rf, installed_site)
    assert auth.client_key == installed_site.client_key
    assert redis_tenant_cache.calls == {}


def test_redis_revalidation_is_one_version_read_per_interval(
    installed_site, rf, redis_tenant_cache, process_clock, django_assert_num_queries
):
    authenticate(rf, installed_site)
    before, _ = tenant_cache.get(installed_site.client_key)
    for _ in range(3):
        redis_tenant_cache.calls.clear()
        process_clock.now += 1.0
        with django_assert_num_queries(0):
            for _ in range(20):
                authenticate(rf, installed_site)
        assert redis_tenant_cache.calls == {"get": 1}  # the version key, nothing changed
    assert tenant_cache.get(installed_site.client_key)[0] is before  # same snapshot object


@pytest.mark.parametrize(
    ("fields", "code"),
    [({"is_installed": False}, "tenant_uninstalled"), ({"is_enabled": False}, "tenant_disabled")],
)
def test_redis_sees_another_process_change_within_the_interval(
    installed_site, rf, redis_tenant_cache, process_clock, django_assert_num_queries, fields, code
):
    authenticate(rf, installed_site)
    committed_elsewhere(installed_site.client_key, **fields)
    process_clock.now += 0.5  # inside TENANT_CACHE_REVALIDATE (1 s): the memo is trusted
    redis_tenant_cache.calls.clear()
    authenticate(rf, installed_site)
    assert redis_tenant_cache.calls == {}
    process_clock.now += 0.6  # past it: the version key says another process changed it
    with django_assert_num_queries(0), pytest.raises(Exception) as refused:
        authenticate(rf, installed_site)
    assert refused.value.error.code == code
    # The version key, the new entry; then the refusal's own version read (unchanged).
    assert redis_tenant_cache.calls == {"get": 3}


def test_redis_accepts_a_secret_rotated_elsewhere_at_once(
    installed_site, rf, redis_tenant_cache, process_clock, django_assert_num_queries
):
    """A token signed with the secret another process just stored: its refusal reads
    the version key and finds the new entry, inside the interval, without a query."""
    client_key = installed_site.client_key
    authenticate(rf, installed_site)
    ours = tenant_cache._memo[client_key]  # what this process holds before the rotation
    rotated = "rotated-" + "s" * 40
    assert installed_site.install(secret=rotated).status_code == 204
    committed_elsewhere(client_key)  # the entry the rotating process writes after commit
    tenant_cache._memo[client_key] = ours  # this process never saw the rotation ...
    tenant_cache._checked[client_key] = process_clock.now  # ... and just checked
    process_clock.now += 0.1
    with django_assert_num_queries(0):
        _user, auth = authenticate(rf, installed_site)  # signed with the new secret
    assert not auth.signed_with_retired_secret
    assert tenant_cache._memo[client_key] is not ours


def test_redis_forged_flood_costs_no_more_than_locally(
    installed_site, rf, redis_tenant_cache, process_clock, django_assert_max_num_queries
):
    authenticate(rf, installed_site)
    key = tenant_cache.cache_key(installed_site.client_key)
    before = redis_tenant_cache.cache.get(key + ":version")
    forged = installed_site.page_token("/drf/page", secret="forged-" + "f" * 40)
    redis_tenant_cache.calls.clear()
    with django_assert_max_num_queries(2):
        for _ in range(1_000):
            process_clock.now += 0.001
            with pytest.raises(Exception) as refused:
                authenticate(rf, installed_site, token=forged)
            assert refused.value.error.code == "signature_invalid"
    # One version read per refusal at most, never a write.
    assert set(redis_tenant_cache.calls) == {"get"}
    assert redis_tenant_cache.calls["get"] <= 1_002
    assert redis_tenant_cache.cache.get(key + ":version") == before
    _user, auth = authenticate(rf, installed_site)
    assert auth.client_key == installed_site.client_key


def test_redis_with_revalidate_zero_reads_the_version_on_every_request(
    installed_site, rf, redis_tenant_cache, settings
):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_REVALIDATE": 0}
    authenticate(rf, installed_site)
    redis_tenant_cache.calls.clear()
    for _ in range(5):
        authenticate(rf, installed_site)
    assert redis_tenant_cache.calls == {"get": 5}
