"""Rate limits as Jira Cloud reports them: read, kept per tenant for every process, honoured.

- header parsing: both spellings, any case, HTTP-date Retry-After, ISO resets
  with offsets, garbage ignored;
- every answer records the quota, a 429 a backoff that a second session (and
  a second process, through a shared file cache) waits out or refuses
  without sending;
- urllib3's retry honours X-RateLimit-Reset when there is no Retry-After;
- the admin, connect_tenants and ConnectClient.rate_limit show it;
- the simulated site enforces a quota, end to end over HTTP.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import (
    ConnectAPIError,
    ConnectClientError,
    RateLimitBackoffError,
)
from django_atlassian_connect.http import CappedRetry, build_retry, ratelimit
from django_atlassian_connect.http.bound import BoundSession
from django_atlassian_connect.http.ratelimit_headers import parse_headers, retry_wait
from django_atlassian_connect.models import Tenant
from django_atlassian_connect.testing.host import ConnectHost, QuotaPolicy
from django_atlassian_connect.testing.host.quota import Quota
from tests.conftest import install_into_live_server

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading the headers ------------------------------------------------------------------


def test_documented_headers_any_case():
    state = parse_headers(
        {
            "x-ratelimit-limit": "100",
            "X-RATELIMIT-REMAINING": "12",
            "X-RateLimit-Reset": "2026-03-02T14:00Z",
            "X-RateLimit-NearLimit": "True",
            "RateLimit-Reason": "jira-quota-global-based",
        },
        now=NOW,
    )
    assert state is not None
    assert (state.limit, state.remaining, state.near_limit) == (100, 12, True)
    assert state.reset == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert state.reason == "jira-quota-global-based"
    assert state.retry_after is None
    assert state.observed_at == datetime.fromtimestamp(NOW, tz=UTC)


def test_beta_spellings_and_structured_fields():
    state = parse_headers(
        {
            "Beta-RateLimit-Policy": '"tenant-app-quota";q=100100;w=3600',
            "Beta-RateLimit": '"tenant-app-quota";r=17842;t=60',
            "X-Beta-RateLimit-NearLimit": "true",
            "X-Beta-RateLimit-Reason": "jira-quota-tenant-based",
            "Beta-Retry-After": "7",
        },
        now=NOW,
    )
    assert state is not None
    assert (state.limit, state.remaining, state.near_limit) == (100100, 17842, True)
    assert state.reset == datetime.fromtimestamp(NOW + 60, tz=UTC)
    assert state.reason == "jira-quota-tenant-based"
    assert state.retry_after == 7
    beta = parse_headers(
        {
            "Beta-RateLimit-Limit": "50",
            "Beta-RateLimit-Remaining": "0",
            "Beta-RateLimit-Reset": "2026-03-02T13:30:00Z",
        },
        now=NOW,
    )
    assert beta is not None and (beta.limit, beta.remaining) == (50, 0)
    assert beta.reset == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)


def test_retry_after_as_an_http_date():
    state = parse_headers({"Retry-After": "Mon, 02 Mar 2026 13:01:30 GMT"}, status=429, now=NOW)
    assert state is not None and state.retry_after == 90
    # A date already past means "now".
    past = parse_headers({"Retry-After": "Mon, 02 Mar 2026 12:00:00 GMT"}, status=429, now=NOW)
    assert past is not None and past.retry_after == 0


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-03-02T14:00:00Z", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),
        ("2026-03-02T14:00Z", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),
        ("2026-03-02T15:00:00+01:00", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),
        ("2026-03-02T09:00:00-05:00", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),
        ("2026-03-02T14:00:00.500Z", datetime(2026, 3, 2, 14, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T14:00:00", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),  # naive: UTC
        ("3600", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),  # seconds from now
        (str(int(NOW + 3600)), datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),  # epoch seconds
    ],
)
def test_reset_with_offsets(value, expected):
    state = parse_headers({"X-RateLimit-Reset": value}, now=NOW)
    assert state is not None and state.reset == expected
    assert state.reset.tzinfo is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Limit": "lots"},
        {"X-RateLimit-Limit": "-5"},
        {"X-RateLimit-Remaining": "nan"},
        {"X-RateLimit-Remaining": "inf"},
        {"X-RateLimit-Reset": "tomorrow"},
        {"X-RateLimit-Reset": "2026-13-45T99:00Z"},
        {"X-RateLimit-Reset": "1e400"},
        {"X-RateLimit-NearLimit": "maybe"},
        {"RateLimit-Reason": "\x00\x01"},
        {"Beta-RateLimit": '"q";r=abc;t=;;='},
        {"Beta-RateLimit-Policy": "garbage"},
        {"Retry-After": "soon"},
        {"Retry-After": "-3"},
    ],
)
def test_garbage_values_are_ignored(headers):
    assert parse_headers(headers, now=NOW) is None  # nothing readable: nothing said
    state = parse_headers(headers, status=429, now=NOW)  # a 429 is still a state
    assert state is not None
    assert (state.limit, state.remaining, state.reset, state.retry_after) == (None,) * 4
    assert state.near_limit is False and state.reason == ""
    assert retry_wait(headers, now=NOW) is None


def test_garbage_in_one_spelling_falls_back_to_the_other():
    state = parse_headers(
        {"X-RateLimit-Remaining": "n/a", "Beta-RateLimit-Remaining": "4", "Retry-After": "x"},
        now=NOW,
    )
    assert state is not None and state.remaining == 4


def test_nothing_about_rate_limits_is_none():
    assert parse_headers({"Content-Type": "application/json"}, now=NOW) is None
    # A 503's Retry-After is no quota.
    assert parse_headers({"Retry-After": "5"}, status=503, now=NOW) is None


def test_retry_wait_prefers_retry_after_then_reset():
    assert retry_wait({"Retry-After": "3", "X-RateLimit-Reset": iso(NOW + 60)}, now=NOW) == 3
    assert retry_wait({"X-RateLimit-Reset": iso(NOW + 60)}, now=NOW) == 60
    assert retry_wait({"Beta-RateLimit-Reset": iso(NOW + 20)}, now=NOW) == 20
    assert retry_wait({"X-RateLimit-Reset": iso(NOW - 60)}, now=NOW) is None  # past


# -- recording, per tenant, in the shared cache ----------------------------------------------


@pytest.fixture
def myself(tenant):
    return tenant.base_url + "/rest/api/3/myself"


@pytest.fixture
def no_retries(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 0}


QUOTA = {
    "X-RateLimit-Limit": "100",
    "X-RateLimit-Remaining": "12",
    "X-RateLimit-Reset": "2026-03-02T14:00Z",
    "X-RateLimit-NearLimit": "true",
}


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


@pytest.mark.django_db
def test_the_retry_honours_the_reset_when_there_is_no_retry_after(tenant, myself, rsps):
    # Within MAX_RETRY_AFTER: retried (responses replays urllib3's retries without sleeping).
    rsps.add(
        responses.GET, myself, status=429, headers={"X-RateLimit-Reset": iso(time.time() + 20)}
    )
    rsps.add(responses.GET, myself, json={})
    assert ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code == 200
    assert len(rsps.calls) == 2
    ratelimit.clear(tenant.client_key)
    # Beyond it: not retried, the 429 at once.
    rsps.replace(
        responses.GET, myself, status=429, headers={"X-RateLimit-Reset": iso(time.time() + 120)}
    )
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert len(rsps.calls) == 3
    assert "resets " in excinfo.value.hint and "Retry-After" not in excinfo.value.hint


def test_capped_retry_sleeps_until_the_reset(monkeypatch):
    slept = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    retry = build_retry()
    assert isinstance(retry, CappedRetry)

    class Answer:
        status = 429
        headers = {"x-ratelimit-reset": iso(time.time() + 20)}

    assert retry.get_retry_after(Answer()) == pytest.approx(20, abs=1.5)
    retry.sleep(Answer())
    assert slept and slept[0] == pytest.approx(20, abs=1.5)
    Answer.headers = {"Beta-Retry-After": "4", "X-RateLimit-Reset": iso(time.time() + 20)}
    assert retry.get_retry_after(Answer()) == 4
    Answer.headers = {"Retry-After": "later"}  # urllib3 alone raises InvalidHeader here
    assert retry.get_retry_after(Answer()) is None


@pytest.mark.django_db
def test_a_429_that_a_retry_got_past_still_holds_other_processes_back(tenant, myself, rsps):
    # urllib3 retried the 429 itself; the response hook never saw it, the observer did.
    rsps.add(responses.GET, myself, status=429, headers={"Retry-After": "5"})
    rsps.add(responses.GET, myself, json={})
    assert ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code == 200
    assert ratelimit.get_backoff(tenant.client_key) is not None


@pytest.mark.django_db
def test_each_answer_is_recorded_once(tenant, myself, rsps, settings, monkeypatch):
    # One 429 retried (the retry's observer), then the last 429 (the session's hook).
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 1}
    recorded = []
    real = ratelimit.record
    monkeypatch.setattr(ratelimit, "record", lambda *a, **k: recorded.append(a[2]) or real(*a, **k))
    rsps.add(responses.GET, myself, status=429, headers={"Retry-After": "1"})
    with pytest.raises(ConnectAPIError):
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert len(rsps.calls) == 2
    assert recorded == [429, 429]


@pytest.mark.django_db
def test_a_failing_cache_never_breaks_a_call(tenant, myself, rsps, monkeypatch, caplog):
    class Broken:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = delete_many = get

    monkeypatch.setattr(ratelimit, "_cache", lambda: Broken())
    rsps.add(responses.GET, myself, json={}, headers=QUOTA)
    assert ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code == 200
    assert ConnectClient(tenant).rate_limit is None
    assert "rate-limit cache unavailable" in caplog.text


# -- the gateway (Forge, OAuth 2.0) ----------------------------------------------------------


def test_a_gateway_session_with_a_key_shares_the_backoff(rsps, settings):
    base = "https://api.atlassian.com/ex/jira/cloud-1"
    rsps.add(responses.GET, base + "/rest/api/3/myself", status=429, headers={"Retry-After": "90"})

    def session(key):
        return BoundSession(base, lambda: "Bearer t", who="the token", rate_limit_key=key)

    with pytest.raises(ConnectAPIError):
        session(None).get("/rest/api/3/myself")
    assert ratelimit.get_backoff("cloud-key") is None  # no key: nothing kept
    with pytest.raises(ConnectAPIError):
        session("cloud-key").get("/rest/api/3/myself")
    with pytest.raises(RateLimitBackoffError) as excinfo:
        session("cloud-key").get("/rest/api/3/myself")
    assert excinfo.value.client_key == "cloud-key"
    assert len(rsps.calls) == 2


# -- what people see: the admin, connect_tenants --------------------------------------------


def _seen(tenant, **headers):
    ratelimit.record(tenant.client_key, {**QUOTA, **headers}, 429 if headers else 200)


@pytest.mark.django_db
def test_the_admin_tenant_page_shows_the_rate_limit(tenant, client, django_user_model):
    from django.urls import reverse

    user = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    client.force_login(user)
    url = reverse("admin:django_atlassian_connect_tenant_change", args=[tenant.pk])
    html = client.get(url).content.decode()
    assert "Rate limit" in html
    _seen(tenant, **{"Retry-After": "120", "RateLimit-Reason": "jira-quota-global-based"})
    html = client.get(url).content.decode()
    assert "12/100 left" in html and "resets 2026-03-02T14:00:00Z" in html
    assert "near limit" in html and "jira-quota-global-based" in html
    assert "backoff until " in html


@pytest.mark.django_db
def test_connect_tenants_shows_the_rate_limit(tenant):
    def output(*args):
        out = io.StringIO()
        call_command("connect_tenants", *args, stdout=out)
        return out.getvalue()

    assert "rate limit" not in output()  # only when asked: the columns stay as they were
    (line,) = [ln for ln in output("--rate-limits").splitlines() if tenant.client_key in ln]
    assert line.endswith("\trate limit -")
    _seen(tenant)
    (line,) = [ln for ln in output("--rate-limits").splitlines() if tenant.client_key in ln]
    last = line.split("\t")[-1]
    assert last.startswith("rate limit 12/100 left, resets 2026-03-02T14:00:00Z, near limit")
    assert "backoff" not in last


def test_describe_nothing_seen():
    assert ratelimit.describe(None) == "-"


# -- the simulated site's quota ---------------------------------------------------------------


def test_the_quota_counts_points_and_answers_headers():
    clock = FakeClock(NOW)
    quota = Quota(QuotaPolicy(limit=5, window=60, near_limit_at=0.4), clock)
    answers = [quota.charge("jira:a") for _ in range(6)]
    assert [allowed for allowed, _ in answers] == [True] * 5 + [False]
    remaining = [int(h["X-RateLimit-Remaining"]) for _, h in answers]
    assert remaining == [4, 3, 2, 1, 0, 0]
    near = [h["X-RateLimit-NearLimit"] for _, h in answers]
    assert near == ["false", "false", "false", "true", "true", "true"]
    refused = answers[-1][1]
    assert (
        refused["Retry-After"] == "60" and refused["RateLimit-Reason"] == "jira-quota-global-based"
    )
    assert refused["X-RateLimit-Reset"] == iso(NOW + 60)
    assert "RateLimit-Reason" not in answers[0][1]
    assert quota.used("jira:a") == 5 and quota.used("jira:b") == 0  # per tenant
    clock.now += 60  # a new window
    assert quota.charge("jira:a")[0] and quota.used("jira:a") == 1


def test_the_quota_can_answer_with_the_reset_only_or_beta_headers():
    clock = FakeClock(NOW)
    quota = Quota(QuotaPolicy(limit=1, window=30, retry_after=False), clock)
    quota.charge("t")
    allowed, headers = quota.charge("t")
    assert not allowed and "Retry-After" not in headers and headers["X-RateLimit-Reset"]
    beta = Quota(QuotaPolicy(limit=0, beta=True), clock)
    allowed, headers = beta.charge("t")
    assert not allowed
    assert set(headers) == {
        "Beta-RateLimit-Limit",
        "Beta-RateLimit-Remaining",
        "Beta-RateLimit-Reset",
        "Beta-RateLimit-NearLimit",
        "Beta-RateLimit-Reason",
        "Beta-Retry-After",
    }
    state = parse_headers(headers, status=429, now=NOW)
    assert state is not None and state.limit == 0 and state.retry_after == 3600


# -- end to end: the simulated site over HTTP, a second client, a second process ---------------


@pytest.fixture
def quota_site(settings, live_server, tmp_path):
    """A simulated Jira site with the app installed, and the rate limits in a file cache."""
    with ConnectHost() as host:
        host.tenant = install_into_live_server(settings, live_server, host)
        settings.CACHES = {
            **settings.CACHES,
            "shared": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            },
        }
        settings.ATLASSIAN_CONNECT = {
            **settings.ATLASSIAN_CONNECT,
            "RATE_LIMIT_CACHE_ALIAS": "shared",
        }
        host.cache_dir = tmp_path / "cache"
        host.tmp = tmp_path
        yield host


def rest_statuses(host) -> list[int]:
    return [e["status"] for e in host.log if e.get("path", "").startswith("/rest/")]


def other_process(host, settings, script: str) -> dict:
    """Run ``script`` in a new Python process sharing the database and the file cache."""
    (host.tmp / "rl_settings.py").write_text(
        textwrap.dedent(
            """
            import json, os
            from tests.settings import *  # noqa: F403

            DATABASES = {"default": json.loads(os.environ["RL_DATABASE"])}
            CACHES = {
                "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                "shared": {
                    "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": os.environ["RL_CACHE_DIR"],
                },
            }
            ATLASSIAN_CONNECT = json.loads(os.environ["RL_CONNECT"])
            """
        )
    )
    database = {
        key: connection.settings_dict[key]
        for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rl_settings",
        "PYTHONPATH": os.pathsep.join([str(host.tmp), str(REPO)]),
        "RL_DATABASE": json.dumps(database),
        "RL_CACHE_DIR": str(host.cache_dir),
        "RL_CONNECT": json.dumps(settings.ATLASSIAN_CONNECT),
    }
    code = "import django\ndjango.setup()\n" + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=host.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


CALL_FROM_ANOTHER_PROCESS = """
    import json, time
    from django_atlassian_connect.connect.client import ConnectClient
    from django_atlassian_connect.exceptions import ConnectClientError
    from django_atlassian_connect.models import get_tenant_model

    tenant = get_tenant_model()._default_manager.get(client_key={client_key!r})
    started = time.monotonic()
    try:
        status = ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code
        print(json.dumps({{"status": status, "took": time.monotonic() - started}}))
    except ConnectClientError as exc:
        print(json.dumps({{"code": exc.code, "wait": getattr(exc, "wait", None)}}))
"""


@pytest.mark.django_db(transaction=True)
def test_e2e_a_spent_quota_holds_back_other_clients_and_processes(quota_site, settings):
    host = quota_site
    host.enforce_quota(QuotaPolicy(limit=4, window=3600, near_limit_at=0.5))
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    state = ConnectClient(host.tenant).rate_limit
    assert state is not None and (state.limit, state.remaining, state.near_limit) == (4, 3, False)
    for _ in range(3):
        session.get("/rest/api/3/myself")
    state = ConnectClient(host.tenant).rate_limit
    assert state is not None and state.remaining == 0 and state.near_limit
    with pytest.raises(ConnectAPIError) as excinfo:
        session.get("/rest/api/3/myself")
    assert excinfo.value.status_code == 429
    assert "jira-quota-global-based" in excinfo.value.hint
    assert rest_statuses(host) == [200, 200, 200, 200, 429]  # not retried: ~3600 s > 30 s
    # A second client in this process: refused, nothing sent.
    with pytest.raises(RateLimitBackoffError):
        ConnectClient(host.tenant).as_app().get("/rest/api/3/project/recent")
    # A second process, sharing only the file cache and the database: refused too.
    answer = other_process(
        host, settings, CALL_FROM_ANOTHER_PROCESS.format(client_key=host.client_key)
    )
    assert answer["code"] == "rate_limited_backoff" and answer["wait"] > 3000
    assert rest_statuses(host) == [200, 200, 200, 200, 429]  # the site saw nothing more
    # Housekeeping leaves the site alone too.
    from django_atlassian_connect import maintenance

    assert maintenance.verify_installations() == {
        "ok": 0,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
        "deferred_rate_limited": 1,
    }
    assert rest_statuses(host) == [200, 200, 200, 200, 429]


@pytest.mark.django_db(transaction=True)
def test_e2e_another_process_waits_for_the_reset_instead_of_hammering(quota_site, settings):
    host = quota_site
    # The 429 says when only by X-RateLimit-Reset.
    host.enforce_quota(QuotaPolicy(limit=1, window=6, retry_after=False))
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 0}
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    with pytest.raises(ConnectAPIError):
        session.get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(host.client_key)
    assert backoff is not None and 0 < backoff.remaining(time.time()) <= 7
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 3}
    answer = other_process(
        host, settings, CALL_FROM_ANOTHER_PROCESS.format(client_key=host.client_key)
    )
    assert answer["status"] == 200 and answer["took"] > 0
    # Exactly one more call, after the reset: no 429 in between.
    assert rest_statuses(host) == [200, 429, 200]
    assert time.time() >= backoff.until.timestamp()


@pytest.mark.django_db(transaction=True)
def test_e2e_the_retry_waits_for_the_reset_of_the_simulated_site(quota_site):
    host = quota_site
    host.enforce_quota(QuotaPolicy(limit=1, window=2, retry_after=False))
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    started = time.monotonic()
    assert session.get("/rest/api/3/myself").status_code == 200  # urllib3 waited, retried
    assert rest_statuses(host) == [200, 429, 200]
    assert time.monotonic() - started >= 0.5
    assert host.quota is not None and host.quota.used(host.client_key) == 1


def test_a_refused_call_costs_no_points():
    with ConnectHost(quota=QuotaPolicy(limit=1)) as host:  # the app is not installed
        response = requests.get(host.base_url + "/rest/api/3/myself", timeout=10)
        assert host.quota is not None and host.quota.used(host.client_key) == 0
    assert response.status_code == 401
    assert not any(name.lower().startswith("x-ratelimit") for name in response.headers)


def test_reset_in_the_past_is_no_backoff_reason(settings):
    # A reset already past (seen in the wild) falls back to the short default wait.
    now = NOW
    ratelimit.record("jira:past", {"X-RateLimit-Reset": iso(now - 3600)}, 429, now=now)
    backoff = ratelimit.get_backoff("jira:past", now=now)
    assert backoff is not None
    assert backoff.remaining(now) == pytest.approx(ratelimit.DEFAULT_BACKOFF)
    assert timedelta(seconds=backoff.remaining(now)) < timedelta(minutes=1)
