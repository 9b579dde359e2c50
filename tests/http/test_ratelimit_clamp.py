"""A wait a site names that the backoff must not believe: clamped, past, or garbage."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectAPIError, RateLimitBackoffError
from django_atlassian_connect.http import ratelimit
from tests.http.ratelimit_support import NOW, FakeClock, iso

# A site's 429 names a wait the backoff must not believe: a year, 1e12 s, the year 9999.
HUGE_WAITS = [
    {"Retry-After": "1e12"},
    {"Retry-After": "1e308"},
    {"Retry-After": "31536000"},
    {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"X-RateLimit-Reset": "9999-12-31T23:59:59Z"},
    {"X-RateLimit-Reset": str(10**11)},
    {"Beta-Retry-After": "99999999999999999999"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("headers", HUGE_WAITS, ids=lambda h: "=".join(next(iter(h.items()))))
def test_a_huge_wait_is_clamped_and_never_breaks_later_calls(
    tenant, myself, rsps, no_retries, headers, caplog
):
    clock = FakeClock()
    rsps.add(responses.GET, myself, status=429, headers=headers)
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(tenant.client_key, now=clock.now)
    assert backoff is not None
    assert backoff.remaining(clock.now) == pytest.approx(3600, abs=0.01)
    assert "clamped to RATE_LIMIT_MAX_BACKOFF" in caplog.text
    # Later calls are refused cleanly (not OverflowError/ValueError), and sent nothing.
    with pytest.raises(RateLimitBackoffError):
        ConnectClient(tenant, clock=clock, sleep=clock.sleep).as_app().get("/rest/api/3/myself")
    assert len(rsps.calls) == 1
    # After the clamp (one hour by default), the tenant is called again.
    clock.now += 3601
    rsps.replace(responses.GET, myself, json={})
    assert ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself").json() == {}


@pytest.mark.django_db
def test_the_clamp_is_a_setting(tenant, myself, rsps, no_retries, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "RATE_LIMIT_MAX_BACKOFF": 120}
    clock = FakeClock()
    rsps.add(responses.GET, myself, status=429, headers={"Retry-After": "600"})
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant, clock=clock).as_app().get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(tenant.client_key, now=clock.now)
    assert backoff is not None and backoff.remaining(clock.now) == pytest.approx(120)


def test_a_poisoned_backoff_entry_is_read_as_clamped():
    # What an earlier version wrote for a year-long Retry-After: it held the tenant for a year.
    client_key = "jira:poisoned"
    key = ratelimit._key("backoff", client_key)
    ratelimit._cache().set(key, {"until": NOW + 365 * 86400, "since": NOW, "reason": ""})
    backoff = ratelimit.get_backoff(client_key, now=NOW + 10)
    assert backoff is not None
    assert backoff.until.timestamp() == pytest.approx(NOW + 3600)
    assert ratelimit.get_backoff(client_key, now=NOW + 3601) is None
    assert ratelimit.housekeeping_deferral(client_key, now=NOW + 3601) is None
    # For Retry-After: 1e12 (past any date), reading it raised OverflowError: no entry now.
    for garbage in (NOW + 1e12, float("inf"), float("nan"), 10**30, True, "soon"):
        ratelimit._cache().set(key, {"until": garbage, "since": NOW})
        assert ratelimit.get_backoff(client_key, now=NOW) is None


@pytest.mark.parametrize("value", ["1e12", "1e308", "-5", "nan", "inf", "x" * 500, "\x00"])
def test_recording_never_raises_on_any_header_value(value):
    for name in ("Retry-After", "X-RateLimit-Reset", "X-RateLimit-Limit", "Beta-RateLimit"):
        ratelimit.record("jira:any-value", {name: value}, 429, now=NOW)
        ratelimit.get_state("jira:any-value")
        ratelimit.get_backoff("jira:any-value", now=NOW)
        ratelimit.clear("jira:any-value")


def test_reset_in_the_past_is_no_backoff_reason(settings):
    # A reset already past (seen in the wild) falls back to the short default wait.
    now = NOW
    ratelimit.record("jira:past", {"X-RateLimit-Reset": iso(now - 3600)}, 429, now=now)
    backoff = ratelimit.get_backoff("jira:past", now=now)
    assert backoff is not None
    assert backoff.remaining(now) == pytest.approx(ratelimit.DEFAULT_BACKOFF)
    assert timedelta(seconds=backoff.remaining(now)) < timedelta(minutes=1)
