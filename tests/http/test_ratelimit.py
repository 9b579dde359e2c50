"""Rate limits as Jira Cloud reports them: the headers read, both spellings, any case.

HTTP-date Retry-After, ISO resets with offsets, garbage ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from django_atlassian_connect.http.ratelimit_headers import parse_headers, retry_wait
from tests.http.ratelimit_support import NOW, iso

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
