"""Helpers of the fuzz tests: Hypothesis settings, the examples counter, the input strategies."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from django_atlassian_connect.connect.lifecycle import PAYLOAD_FIELDS
from django_atlassian_connect.exceptions import CODES, ConnectAuthError
from django_atlassian_connect.qsh import CONTEXT_QSH
from tests.conftest import APP_BASE_URL

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1
EXAMPLES_RUN: dict[str, int] = {}


def fuzz(examples: int, **kwargs: Any) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
        **kwargs,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- strategies ------------------------------------------------------------------------

# Any text, NUL characters and unpaired surrogates ("\ud800") included.
weird_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30)
# Any JSON value, the odd numbers included (NaN, infinities, 400-digit integers).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=30),
    weird_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
now = int(time.time())
times = st.one_of(
    st.integers(min_value=-600, max_value=600).map(lambda d: now + d),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    json_values,
)
kids = st.one_of(
    st.uuids().map(str),
    st.text(max_size=40),
    st.sampled_from(["../x", "a%2Fb", "https://evil.example.com/k", "k" * 200, "a..b", "a\n"]),
    json_values,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.one_of(
            st.sampled_from(["HS256", "RS256", "none", "None", "HS512", "ES256"]), json_values
        ),
        "kid": kids,
        "typ": json_values,
    },
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.one_of(st.text(max_size=300), weird_text, json_values),
        "sub": json_values,
        "iat": times,
        "exp": times,
        "nbf": times,
        "qsh": st.one_of(st.just(CONTEXT_QSH), st.text(max_size=70), json_values),
        "aud": st.one_of(st.just(APP_BASE_URL), st.text(max_size=40), json_values),
        "context": json_values,
    },
)


def _json_segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


structured_tokens = st.builds(
    lambda h, c, sig: f"{_json_segment(h)}.{_json_segment(c)}.{sig}",
    st.one_of(headers, json_values),
    st.one_of(claims, json_values),
    st.one_of(st.binary(max_size=300).map(b64), st.text(max_size=20), st.just("")),
)
raw_tokens = st.one_of(
    st.text(max_size=200),
    st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=+/.!", max_size=40), max_size=5).map(
        ".".join
    ),
    st.lists(st.binary(max_size=60).map(b64), min_size=1, max_size=5).map(".".join),
)
any_token = st.one_of(structured_tokens, raw_tokens)


def assert_documented(error: ConnectAuthError) -> None:
    assert error.code in CODES
    assert error.detail and error.hint
    assert error.status_code in (401, 413, 503)


payload_values = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=30, max_value=600).map(lambda n: "x" * n),  # around the limits
    st.sampled_from(
        [
            "https://x.atlassian.net",
            "ftp://x",
            "https://[bad",
            "http://",
            "https://ok.atlassian.net/wiki",
        ]
    ),
    json_values,
)
payloads = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            name: payload_values
            for name in (
                "key",
                "clientKey",
                "baseUrl",
                "sharedSecret",
                "eventType",
                *PAYLOAD_FIELDS,
            )
        },
    ),
    json_values,
)
