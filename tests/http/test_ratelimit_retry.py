"""urllib3's retry honours X-RateLimit-Reset; each answer recorded once; gateway sessions."""

from __future__ import annotations

import time

import pytest
import responses

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectAPIError, RateLimitBackoffError
from django_atlassian_connect.http import CappedRetry, build_retry, ratelimit
from django_atlassian_connect.http.bound import BoundSession
from tests.http.ratelimit_support import QUOTA, iso


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
