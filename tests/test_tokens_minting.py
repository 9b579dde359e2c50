"""tokens.py: minting, the testing helpers' tokens and the Java signer's reference vectors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from django_atlassian_connect.testing import context_token, install_token, request_token
from django_atlassian_connect.tokens import (
    SecretCandidate,
    check_audience,
    check_qsh,
    check_times,
    encode_app_token,
    encode_hs256,
    parse_token,
    verify_hs256_with_secrets,
    verify_rs256,
)
from tests.tokens_support import APP, NOW, SECRET, assert_code

SHARED_VECTORS = Path(__file__).parents[2] / "shared/vectors/qsh-public.json"
LOCAL_VECTORS = Path(__file__).parent / "data/qsh-public.json"


def load_vectors() -> list[dict[str, Any]]:
    path = SHARED_VECTORS if SHARED_VECTORS.exists() else LOCAL_VECTORS
    return json.loads(path.read_text(encoding="utf-8"))


SIGNED_VECTORS = [v for v in load_vectors() if "jwt" in v and "shared_secret" in v]


# -- minting -------------------------------------------------------------------------


def test_encode_app_token_claims():
    qsh = query_string_hash("GET", "/rest/api/2/myself")
    token = encode_app_token(app_key="com.example.app", secret=SECRET, qsh=qsh, now=NOW + 0.7)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["typ"] == "JWT"
    decoded = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert decoded == {"iss": "com.example.app", "iat": int(NOW), "exp": int(NOW) + 180, "qsh": qsh}


def test_encode_app_token_lifetime_and_extra_claims():
    token = encode_app_token(
        app_key="k",
        secret=SECRET,
        qsh="q",
        now=NOW,
        lifetime=60,
        extra_claims={"sub": "u", "aud": "x"},
    )
    decoded = parse_token(token).claims
    assert decoded["exp"] - decoded["iat"] == 60
    assert decoded["sub"] == "u" and decoded["aud"] == "x"


def test_encode_app_token_uses_the_clock_and_verifies_with_the_pipeline():
    before = int(time.time())
    token = encode_app_token(
        app_key="com.example.app", secret=SECRET, qsh=query_string_hash("GET", "/x")
    )
    token_parsed = parse_token(token)
    assert before <= token_parsed.claims["iat"] <= int(time.time())
    assert token_parsed.claims["exp"] == token_parsed.claims["iat"] + 180
    verify_hs256_with_secrets(token_parsed, [SecretCandidate(secret=SECRET, label="x")])
    check_times(token_parsed)
    check_qsh(token_parsed, context=False, matches=lambda q: q == query_string_hash("GET", "/x"))


def test_encode_hs256_round_trip():
    token = encode_hs256({"a": 1}, "s" * 32)
    assert jwt.decode(token, "s" * 32, algorithms=["HS256"]) == {"a": 1}


# -- the testing helpers mint tokens the product way ----------------------------------


def test_request_token_helper():
    token = request_token(
        client_key="jira:1",
        secret=SECRET,
        method="get",
        url="/app/page?b=2&a=1",
        app_base_url="https://x.example.com/app",
        account_id="acc",
        now=NOW,
    )
    decoded = parse_token(token)
    assert decoded.claims == {
        "iss": "jira:1",
        "iat": int(NOW),
        "exp": int(NOW) + 180,
        "qsh": query_string_hash("GET", "/page?a=1&b=2"),
        "context": {},
        "sub": "acc",
    }
    verify_hs256_with_secrets(decoded, [SecretCandidate(secret=SECRET, label="x")], now=NOW)
    anonymous = parse_token(
        request_token(client_key="jira:1", secret=SECRET, method="GET", url="/p")
    )
    assert "sub" not in anonymous.claims


def test_context_token_helper():
    decoded = parse_token(
        context_token(client_key="jira:1", secret=SECRET, account_id="acc", now=NOW)
    )
    assert decoded.claims["qsh"] == CONTEXT_QSH
    assert decoded.claims["exp"] - decoded.claims["iat"] == 900
    check_qsh(decoded, context=True)


def test_install_token_helper(install_key):
    token = install_token(
        install_key, client_key="jira:1", app_base_url=APP, path="/uninstalled", now=NOW, extra="y"
    )
    decoded = parse_token(token)
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"] == install_key.kid
    assert decoded.claims["aud"] == [APP]
    assert decoded.claims["qsh"] == query_string_hash("POST", "/uninstalled")
    assert decoded.claims["extra"] == "y"
    verify_rs256(decoded, install_key.public_pem)
    check_audience(decoded, [APP])
    check_times(decoded, now=NOW)


# -- tokens signed by Atlassian's Java signer (interop vectors) ------------------------


def test_there_are_signed_reference_vectors():
    assert len(SIGNED_VECTORS) == 3


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_verify(vector):
    token = parse_token(vector["jwt"])
    verified = verify_hs256_with_secrets(
        token, [SecretCandidate(secret=vector["shared_secret"], label="x")]
    )
    assert verified.candidate.label == "x" and not verified.within_grace
    check_times(token, now=token.claims["iat"])
    check_qsh(
        token,
        context=False,
        matches=lambda q: q == query_string_hash(vector["method"], vector["url_or_path"]),
    )
    assert token.claims["qsh"] == vector["expected_qsh"]


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_are_expired_by_the_real_clock(vector):
    token = parse_token(vector["jwt"])
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token)
    assert_code(excinfo, "token_expired")


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_refuse_a_wrong_secret_and_another_url(vector):
    token = parse_token(vector["jwt"])
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            token, [SecretCandidate(secret=vector["shared_secret"] + "x", label="x")]
        )
    assert_code(excinfo, "signature_invalid")
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(
            token,
            context=False,
            matches=lambda q: (
                q == query_string_hash(vector["method"], vector["url_or_path"] + "&extra=1")
            ),
        )
    assert_code(excinfo, "qsh_mismatch")
