"""The tenant cache on a real Redis: no round trip on a warm request, bounded staleness."""

from __future__ import annotations

import os
from collections import Counter
from types import SimpleNamespace

import pytest

from django_atlassian_connect.connect import tenant_cache
from tests.connect.tenant_cache_support import Clock, authenticate, change_behind_our_back

pytestmark = pytest.mark.django_db


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
