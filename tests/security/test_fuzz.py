"""Property-based fuzzing of the token parser and every token check.

Whatever arrives, the answer is a result or a :class:`ConnectAuthError` with a
documented code, never another exception, and the views never answer 500.

The default profile runs thousands of examples (about 10,000 in all) so
``make test`` stays fast. ``-m fuzz`` or ``HYPOTHESIS_PROFILE=fuzz`` runs
twenty times as many.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from django_atlassian_connect.connect import install_keys
from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.testing import request_token
from django_atlassian_connect.tokens import (
    SecretCandidate,
    check_audience,
    check_qsh,
    check_times,
    parse_token,
    require_algorithm,
    verify_hs256_with_secrets,
    verify_rs256,
)
from tests.conftest import APP_BASE_URL
from tests.security.fuzz_support import (
    EXAMPLES_RUN,
    _json_segment,
    any_token,
    assert_documented,
    fuzz,
    json_values,
    kids,
    now,
)

pytestmark = [
    pytest.mark.fuzz,
    # Short and empty secrets are part of the input space here.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


# -- the token parser and every check -------------------------------------------------------


@fuzz(2000)
@given(token=any_token)
@example(token="a.b.c")
@example(token=f"{_json_segment({'alg': 'HS256'})}.{_json_segment({'iat': 1e400})}.")
@example(token=f"{_json_segment({'alg': 'HS256'})}.{_json_segment({'exp': float('nan')})}.")
def test_token_parser_and_checks_raise_only_documented_errors(token, install_key):
    EXAMPLES_RUN["token parser and checks"] = EXAMPLES_RUN.get("token parser and checks", 0) + 1
    try:
        parsed = parse_token(token)
    except ConnectAuthError as error:
        assert error.code == "token_malformed"
        return
    assert isinstance(parsed.header, dict) and isinstance(parsed.claims, dict)
    candidates = [
        SecretCandidate("s" * 40, "sha256:current"),
        SecretCandidate("r" * 40, "old", now - 60),
    ]
    checks = [
        lambda: require_algorithm(parsed, "HS256"),
        lambda: check_times(parsed, now=time.time(), leeway=30),
        lambda: check_audience(parsed, [APP_BASE_URL]),
        lambda: check_qsh(parsed, context=False, matches=lambda q: q == "abc"),
        lambda: check_qsh(parsed, context=True),
        lambda: verify_hs256_with_secrets(parsed, candidates, now=time.time()),
        lambda: verify_rs256(parsed, install_key.public_pem),
        lambda: install_keys.validate_kid(parsed.header.get("kid")),
    ]
    for check in checks:
        try:
            check()
        except ConnectAuthError as error:
            assert_documented(error)


@fuzz(1000)
@given(kid=kids)
def test_kid_validation_never_lets_a_path_or_url_through(kid):
    EXAMPLES_RUN["kid validation"] = EXAMPLES_RUN.get("kid validation", 0) + 1
    try:
        valid = install_keys.validate_kid(kid)
    except ConnectAuthError as error:
        assert error.code == "key_invalid"
        return
    assert valid == kid and len(valid) <= 128
    assert not any(bad in valid for bad in ("/", "%", "..", "\\", "?", "#", ":", "\n"))
    # The key URL is the configured root plus one path segment: no way out of it.
    from django_atlassian_connect.conf import connect_settings

    root = connect_settings.INSTALL_KEYS_URL.rstrip("/")
    url = install_keys.key_url(valid, "https://acme.atlassian.net")
    assert url == f"{root}/{valid}"
    assert urlsplit(url).netloc == urlsplit(root).netloc


@fuzz(500)
@given(
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    secret=st.text(min_size=1, max_size=60),
)
def test_minted_tokens_round_trip_through_the_parser(data, secret):
    EXAMPLES_RUN["mint round trip"] = EXAMPLES_RUN.get("mint round trip", 0) + 1
    reserved = {"iss", "iat", "exp", "qsh", "context", "sub", "client_key", "secret", "method"}
    reserved |= {"url", "app_base_url", "account_id", "now", "lifetime"}
    claims = {k: v for k, v in data.items() if k not in reserved}
    try:
        json.dumps(claims, allow_nan=False)
    except ValueError:
        return  # PyJWT refuses NaN
    token = request_token(client_key="c", secret=secret, method="GET", url="/x", **claims)
    # The parser keeps any JSON text; only the issuer, which is looked up in the
    # database before verification, is refused when no column could store it.
    parsed = parse_token(token)
    assert {k: parsed.claims[k] for k in claims} == claims
    verify_hs256_with_secrets(parsed, [SecretCandidate(secret, "fp")])
