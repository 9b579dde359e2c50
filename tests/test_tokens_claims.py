"""tokens.py: the times, the qsh rule and the audience."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from django_atlassian_connect.tokens import check_audience, check_qsh, check_times, parse_token
from tests.tokens_support import APP, NOW, assert_code, claims, hs_token, parsed, raw_token

# -- times ------------------------------------------------------------------------


def test_check_times_accepts_a_fresh_token():
    assert check_times(parsed(), now=NOW) is None
    assert check_times(parsed(), now=NOW + 180) is None


def test_check_times_expired():
    token = parsed(exp=int(NOW) - 31)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW, leeway=30)
    error = assert_code(excinfo, "token_expired")
    assert "31 s ago" in error.detail
    assert error.client_key == "jira:client-1"
    assert error.extra["skew"] == pytest.approx(31)


def test_check_times_leeway_boundary():
    token = parsed(exp=int(NOW) - 30)
    check_times(token, now=NOW, leeway=30)  # exactly at the edge: accepted
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW + 0.001, leeway=30)
    assert_code(excinfo, "token_expired")
    with pytest.raises(ConnectAuthError):
        check_times(parsed(exp=int(NOW) - 1), now=NOW, leeway=0)
    check_times(parsed(exp=int(NOW) - 1), now=NOW, leeway=5)


def test_check_times_iat_in_the_future():
    check_times(parsed(iat=int(NOW) + 30, exp=int(NOW) + 300), now=NOW, leeway=30)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(iat=int(NOW) + 31, exp=int(NOW) + 300), now=NOW, leeway=30)
    error = assert_code(excinfo, "token_not_yet_valid")
    assert "future" in error.detail


def test_check_times_nbf():
    check_times(parsed(nbf=int(NOW) + 30), now=NOW, leeway=30)
    check_times(parsed(nbf=int(NOW) - 1000), now=NOW)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(nbf=int(NOW) + 31), now=NOW, leeway=30)
    error = assert_code(excinfo, "token_not_yet_valid")
    assert "not valid before" in error.detail
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(nbf="soon"), now=NOW)
    assert_code(excinfo, "token_malformed")


@pytest.mark.parametrize("missing", ["exp", "iat"])
def test_check_times_missing_claim(missing):
    body = claims()
    del body[missing]
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parse_token(hs_token(body)), now=NOW)
    error = assert_code(excinfo, "claim_missing")
    assert missing in error.detail


@pytest.mark.parametrize("name", ["exp", "iat"])
@pytest.mark.parametrize("value", ["1700000180", True, False, None, [1], {"t": 1}])
def test_check_times_non_numeric_claims(name, value):
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parse_token(hs_token({**claims(), name: value})), now=NOW)
    error = assert_code(excinfo, "token_malformed")
    assert name in error.detail


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_check_times_non_finite_or_huge_numbers_are_malformed(name, literal):
    # json.loads accepts NaN/Infinity; they would defeat every comparison
    # (and -Infinity crashed the expiry message with OverflowError).
    body = json.dumps(claims(**{name: 0})).replace(f'"{name}": 0', f'"{name}": {literal}')
    token = parse_token(raw_token({"alg": "HS256"}, body))
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW)
    assert_code(excinfo, "token_malformed")


def test_check_times_accepts_float_claims():
    assert check_times(parsed(iat=NOW - 0.5, exp=NOW + 0.5), now=NOW) is None


def test_check_times_uses_the_real_clock_by_default():
    now = time.time()
    assert check_times(parsed(iat=int(now), exp=int(now) + 60)) is None
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(iat=int(now) - 600, exp=int(now) - 300))
    assert_code(excinfo, "token_expired")


# -- qsh rule ----------------------------------------------------------------------


def test_check_qsh_computed_endpoint_accepts_the_matching_hash():
    seen: list[str] = []

    def matches(value: str) -> bool:
        seen.append(value)
        return value == query_string_hash("GET", "/page?a=1")

    assert check_qsh(parsed(), context=False, matches=matches) is None
    assert seen == [query_string_hash("GET", "/page?a=1")]


@pytest.mark.parametrize("context", [True, False])
@pytest.mark.parametrize("value", [None, ""])
def test_check_qsh_missing(context, value):
    with pytest.raises(ConnectAuthError) as excinfo:
        # qsh=None: the claim is left out altogether.
        check_qsh(parsed(qsh=value), context=context, matches=lambda q: True)
    assert_code(excinfo, "qsh_missing")


def test_context_qsh_on_computed_endpoint_is_refused_even_if_matches_says_yes():
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=CONTEXT_QSH), context=False, matches=lambda q: True)
    assert_code(excinfo, "context_qsh_not_allowed")


def test_computed_qsh_on_context_endpoint_is_refused():
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(), context=True, matches=lambda q: True)
    assert_code(excinfo, "context_qsh_required")


def test_context_endpoint_accepts_context_qsh():
    assert check_qsh(parsed(qsh=CONTEXT_QSH), context=True) is None


@pytest.mark.parametrize("matches", [lambda q: False, None])
def test_check_qsh_mismatch(matches):
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=query_string_hash("GET", "/other")), context=False, matches=matches)
    error = assert_code(excinfo, "qsh_mismatch")
    assert error.client_key == "jira:client-1"


@pytest.mark.parametrize("value", [123, ["abc"], {"a": 1}, True])
def test_check_qsh_non_string_is_a_mismatch(value):
    called: list[Any] = []
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=value), context=False, matches=lambda q: called.append(q) or True)
    assert_code(excinfo, "qsh_mismatch")
    assert called == []


# -- audience -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [APP, APP + "/", [APP], [APP + "/", "https://other.example.com"]],
)
def test_check_audience_accepts(aud):
    assert check_audience(parsed(aud=aud), [APP]) is None
    assert check_audience(parsed(aud=aud), [APP + "/"]) is None


def test_check_audience_accepts_any_configured_base_url():
    allowed = [APP, "https://alias.example.com/"]
    assert check_audience(parsed(aud="https://alias.example.com"), allowed) is None


@pytest.mark.parametrize(
    "aud",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "https://app.example.com/sub",
        "http://app.example.com",
        ["https://other.example.com", APP],  # only the first list item counts
        [],
        [None],
        123,
        None,
    ],
)
def test_check_audience_refuses(aud):
    token = parsed(aud=aud)  # aud=None: no aud claim at all
    with pytest.raises(ConnectAuthError) as excinfo:
        check_audience(token, [APP])
    error = assert_code(excinfo, "audience_invalid")
    assert APP in error.detail
