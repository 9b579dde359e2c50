"""Every answer records the quota per tenant in the shared cache; a 429 a backoff others honour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
from django.core.cache import caches

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import (
    ConnectAPIError,
    ConnectClientError,
    RateLimitBackoffError,
)
from django_atlassian_connect.http import ratelimit
from django_atlassian_connect.models import Tenant
from tests.http.ratelimit_support import QUOTA, FakeClock, iso

# -- recording, per tenant, in the shared cache ----------------------------------------------


@pytest.mark.django_db
def test_every_answer_records_the_quota_for_every_client(tenant, myself, rsps):
    assert ConnectClient(tenant).rate_limit is None
    rsps.add(responses.GET, myself, json={}, headers=QUOTA)
    ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    state = ConnectClient(tenant).rate_limit  # another client, the same tenant
    assert state is not None
    assert (state.limit, state.remaining, state.near_limit) == (100, 12, True)
    assert state.reset == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    # A success starts no backoff.
    assert ratelimit.get_backoff(tenant.client_key) is None


@pytest.mark.django_db
def test_the_rate_limit_lives_in_the_configured_cache(tenant, myself, rsps, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"},
    }
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "RATE_LIMIT_CACHE_ALIAS": "limits",
    }
    rsps.add(responses.GET, myself, json={}, headers=QUOTA)
    ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert ConnectClient(tenant).rate_limit is not None
    caches["limits"].clear()
    assert ConnectClient(tenant).rate_limit is None


@pytest.mark.django_db
def test_a_429_starts_a_backoff_from_retry_after(tenant, myself, rsps):
    clock = FakeClock()
    rsps.add(
        responses.GET,
        myself,
        status=429,
        headers={**QUOTA, "Retry-After": "3600", "RateLimit-Reason": "jira-quota-global-based"},
    )
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    assert len(rsps.calls) == 1  # 3600 s > MAX_RETRY_AFTER: not retried
    hint = excinfo.value.hint
    assert "jira-quota-global-based" in hint and "limit 100" in hint and "remaining 12" in hint
    assert "resets 2026-03-02T14:00:00Z" in hint and "Retry-After 3600 s" in hint
    backoff = ratelimit.get_backoff(tenant.client_key, now=clock.now)
    assert backoff is not None and backoff.reason == "jira-quota-global-based"
    assert backoff.until.timestamp() == pytest.approx(clock.now + 3600)


@pytest.mark.django_db
def test_a_429_without_retry_after_backs_off_until_the_reset(tenant, myself, rsps, no_retries):
    clock = FakeClock()
    rsps.add(responses.GET, myself, status=429, headers={"X-RateLimit-Reset": iso(clock.now + 90)})
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(tenant.client_key, now=clock.now)
    assert backoff is not None
    assert backoff.until.timestamp() == pytest.approx(int(clock.now) + 90)


@pytest.mark.django_db
def test_a_429_naming_no_time_backs_off_briefly(tenant, myself, rsps, no_retries):
    clock = FakeClock()
    rsps.add(responses.GET, myself, status=429, headers={"Retry-After": "garbage"})
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(tenant.client_key, now=clock.now)
    assert backoff is not None
    assert backoff.remaining(clock.now) == pytest.approx(ratelimit.DEFAULT_BACKOFF)


@pytest.mark.django_db
def test_a_second_client_waits_out_a_short_backoff(tenant, myself, rsps, no_retries):
    clock = FakeClock()
    rsps.add(responses.GET, myself, status=429, headers={"Retry-After": "2"})
    rsps.add(responses.GET, myself, json={"accountType": "app"})
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock, sleep=clock.sleep).as_app().get("/rest/api/3/myself")
    assert clock.slept == []
    other = ConnectClient(tenant, clock=clock, sleep=clock.sleep)
    assert other.as_app().get("/rest/api/3/myself").json() == {"accountType": "app"}
    assert clock.slept == [pytest.approx(2.0)]
    assert len(rsps.calls) == 2
    # The backoff is over: the next call does not wait.
    other.as_app().get("/rest/api/3/myself")
    assert len(clock.slept) == 1


@pytest.mark.django_db
def test_a_long_backoff_refuses_without_sending(tenant, myself, rsps, site_factory):
    clock = FakeClock()
    rsps.add(
        responses.GET,
        myself,
        status=429,
        headers={"Retry-After": "600", "RateLimit-Reason": "jira-burst-based"},
    )
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    sent = len(rsps.calls)
    for session in (
        ConnectClient(tenant, clock=clock, sleep=clock.sleep).as_app(),
        # As a user: refused before any token grant is asked for.
        ConnectClient(tenant, clock=clock, sleep=clock.sleep).as_user("5b10ac8d82e05b22cc7d4ef5"),
    ):
        with pytest.raises(RateLimitBackoffError) as excinfo:
            session.get("/rest/api/3/myself")
        error = excinfo.value
        assert isinstance(error, ConnectClientError)
        assert error.code == "rate_limited_backoff"
        assert error.client_key == tenant.client_key and error.tenant == tenant
        assert error.reason == "jira-burst-based"
        assert error.wait == pytest.approx(600)
        assert error.backoff_until.timestamp() == pytest.approx(clock.now + 600)
        assert error.method == "GET" and error.url == myself
        assert "every process waits until" in str(error) and "MAX_RETRY_AFTER" in str(error)
    assert len(rsps.calls) == sent  # nothing sent
    assert clock.slept == []
    # Another tenant is not held back.
    other_site = site_factory()
    assert other_site.install().status_code == 204
    other = Tenant.objects.get(client_key=other_site.client_key)
    rsps.add(responses.GET, other.base_url + "/rest/api/3/myself", json={})
    ConnectClient(other).as_app().get("/rest/api/3/myself")
    # Once the backoff is over, the tenant is called again.
    clock.now += 601
    rsps.replace(responses.GET, myself, json={})
    ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    assert len(rsps.calls) == sent + 2
