"""The quota of a busy tenant is not written to the shared cache on every answer."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from django_atlassian_connect.http import ratelimit

KEY = "jira:busy"


def headers(remaining: int, *, near: bool = False, reason: str = "") -> dict[str, str]:
    found = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": str(remaining)}
    if near:
        found["X-RateLimit-NearLimit"] = "true"
    if reason:
        found["RateLimit-Reason"] = reason
    return found


@pytest.fixture
def writes(monkeypatch):
    """The cache writes ratelimit makes (key kinds, in order)."""
    made: list[str] = []
    real = ratelimit._set

    def counting(key, value, timeout):
        made.append("state" if ":state:" in key else "backoff")
        return real(key, value, timeout)

    monkeypatch.setattr(ratelimit, "_set", counting)
    return made


def test_a_hundred_answers_within_the_interval_are_one_write(writes, settings):
    for n in range(100):
        ratelimit.record(KEY, headers(99 - n // 10), 200, now=1000.0 + n * 0.01)
    assert writes == ["state"]
    assert ratelimit.get_state(KEY).remaining == 99  # the first answer's quota, not a later one


def test_after_the_interval_the_next_answer_is_written(writes, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "RATE_LIMIT_STATE_INTERVAL": 2}
    ratelimit.record(KEY, headers(90), 200, now=1000.0)
    ratelimit.record(KEY, headers(80), 200, now=1001.9)
    ratelimit.record(KEY, headers(70), 200, now=1002.1)
    assert writes == ["state", "state"]
    assert ratelimit.get_state(KEY).remaining == 70


@pytest.mark.parametrize(
    "second",
    [
        pytest.param((headers(10, near=True), 200), id="near-limit-turns-on"),
        pytest.param((headers(0), 200), id="quota-runs-out"),
        pytest.param((headers(50, reason="jira-burst-based"), 200), id="another-reason"),
        pytest.param(({"Retry-After": "3", **headers(0)}, 429), id="a-429"),
    ],
)
def test_news_is_written_at_once(writes, second):
    ratelimit.record(KEY, headers(60), 200, now=1000.0)
    ratelimit.record(KEY, *second, now=1000.1)
    assert writes[:2] == ["state", "state"]
    assert ratelimit.get_state(KEY).remaining == int(second[0]["X-RateLimit-Remaining"])
    if second[1] == 429:
        assert writes[2:] == ["backoff"] and ratelimit.get_backoff(KEY, now=1000.1) is not None


def test_zero_writes_every_answer(writes, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "RATE_LIMIT_STATE_INTERVAL": 0}
    for n in range(5):
        ratelimit.record(KEY, headers(50 - n), 200, now=1000.0 + n * 0.01)
    assert writes == ["state"] * 5


def test_tenants_are_throttled_apart(writes):
    ratelimit.record("jira:a", headers(60), 200, now=1000.0)
    ratelimit.record("jira:b", headers(60), 200, now=1000.0)
    assert writes == ["state", "state"]


def test_clear_and_forgetting_start_over(writes):
    ratelimit.record(KEY, headers(60), 200, now=1000.0)
    ratelimit.clear(KEY)
    ratelimit.record(KEY, headers(59), 200, now=1000.1)
    cache.clear()
    ratelimit.forget_process_memory()
    ratelimit.record(KEY, headers(58), 200, now=1000.2)
    assert writes == ["state"] * 3
    assert ratelimit.get_state(KEY).remaining == 58
