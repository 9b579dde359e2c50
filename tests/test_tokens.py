"""tokens.py: parse, the algorithm, the required claims, one spelling per token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.testing import install_token
from django_atlassian_connect.tokens import (
    SecretCandidate,
    parse_token,
    require_algorithm,
    require_claims,
    verify_hs256_with_secrets,
    verify_rs256,
)
from tests.tokens_support import SECRET, assert_code, b64, claims, hs_token, parsed, raw_token

# -- parse_token -----------------------------------------------------------------


def test_parse_token_decodes_header_claims_and_signature():
    token = hs_token(claims(), kid="k1")
    result = parse_token(token)
    assert result.header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert result.claims == claims()
    assert result.alg == "HS256"
    assert result.issuer == "jira:client-1"
    head, body, sig = token.split(".")
    assert result.signing_input == f"{head}.{body}".encode("ascii")
    assert result.signature == base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    # The signature and signing input stay out of repr().
    assert sig not in repr(result) and "signing_input" not in repr(result)


def test_parse_token_accepts_an_empty_signature_for_the_algorithm_check_to_refuse():
    token = raw_token({"alg": "none"}, claims(), signature=b"")
    assert token.endswith(".")
    result = parse_token(token)
    assert result.signature == b""
    assert result.alg == "none"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig.extra",
    ],
)
def test_parse_token_wrong_part_count(token):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    error = assert_code(excinfo, "token_malformed")
    assert "three" in error.detail


@pytest.mark.parametrize(
    "token",
    [
        "!!!.e30.c2ln",  # not base64url
        "eyJhbGciOiJIUzI1NiJ9.e3+.c2ln",  # "+" is standard base64, not base64url
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",  # padding is not part of base64url
        "eyJhbGciOiJIUzI1NiJ9.abcde.c2ln",  # 5 characters cannot be base64
        ".e30.c2ln",  # empty header
        "eyJhbGciOiJIUzI1NiJ9..c2ln",  # empty claims
        "eyJhbGciOiJIUzI1NiJ9.e30.c2l*",  # bad signature part
        "eyJhbGciOiJIUzI1NiJ9.e3 0.c2ln",
    ],
)
def test_parse_token_bad_base64(token):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    assert_code(excinfo, "token_malformed")


@pytest.mark.parametrize(
    ("header", "body", "words"),
    [
        ("not json", {"iss": "x"}, "header is not valid JSON"),
        ({"alg": "HS256"}, "not json", "claims is not valid JSON"),
        (b"\xff\xfe{}", {"iss": "x"}, "header is not valid JSON"),
        ({"alg": "HS256"}, b'{"iss": "\xff"}', "claims is not valid JSON"),
        ({"alg": "HS256"}, [1, 2], "claims is not a JSON object"),
        ({"alg": "HS256"}, "42", "claims is not a JSON object"),
        ({"alg": "HS256"}, "null", "claims is not a JSON object"),
        ({"alg": "HS256"}, '"a string"', "claims is not a JSON object"),
        ('"HS256"', {"iss": "x"}, "header is not a JSON object"),
        ("[]", {"iss": "x"}, "header is not a JSON object"),
    ],
)
def test_parse_token_non_json_or_non_object(header, body, words):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(raw_token(header, body))
    error = assert_code(excinfo, "token_malformed")
    assert words in error.detail


def test_parse_token_deeply_nested_json_is_malformed_not_a_crash():
    # json.loads raises RecursionError for deep nesting; the token fits the length limit.
    token = raw_token({"alg": "HS256"}, "[" * 5000 + "]" * 5000)
    assert len(token) < 16384
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    assert_code(excinfo, "token_malformed")


def test_parse_token_length_limit():
    token = hs_token(claims())
    assert parse_token(token, max_length=len(token)).claims == claims()
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token, max_length=len(token) - 1)
    error = assert_code(excinfo, "token_malformed")
    assert str(len(token)) in error.detail
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token("a" * 16385)
    assert "16384" in assert_code(excinfo, "token_malformed").detail


# -- algorithm --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "expected"),
    [
        ("none", "HS256"),
        ("RS256", "HS256"),
        ("HS256", "RS256"),
        ("hs256", "HS256"),
        ("HS512", "HS256"),
        (None, "HS256"),
    ],
)
def test_require_algorithm_refuses_any_other_algorithm(alg, expected):
    header = {"typ": "JWT"} if alg is None else {"alg": alg}
    token = parse_token(raw_token(header, claims()))
    with pytest.raises(ConnectAuthError) as excinfo:
        require_algorithm(token, expected)
    error = assert_code(excinfo, "alg_not_allowed")
    assert expected in error.detail


def test_require_algorithm_accepts_the_expected_one():
    assert require_algorithm(parsed(), "HS256") is None


def test_alg_none_token_never_verifies_with_secrets():
    token = parse_token(raw_token({"alg": "none"}, claims(), signature=b""))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [SecretCandidate(secret=SECRET, label="x")])
    assert_code(excinfo, "alg_not_allowed")


def test_rs256_token_refused_on_hs256_endpoint(install_key):
    token = parse_token(install_token(install_key, client_key="c", app_base_url="https://app"))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [SecretCandidate(secret=SECRET, label="x")])
    assert_code(excinfo, "alg_not_allowed")


def test_hs256_token_refused_on_rs256_endpoint(install_key):
    # Classic confusion attack: the RSA public key used as an HMAC secret.
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}"
    signature = hmac.new(
        install_key.public_pem.encode("ascii"), signing_input.encode("ascii"), hashlib.sha256
    ).digest()
    forged = parse_token(f"{signing_input}.{b64(signature)}")
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(forged, install_key.public_pem)
    assert_code(excinfo, "alg_not_allowed")


def test_require_claims_names_the_missing_ones():
    token = parse_token(raw_token({"alg": "HS256"}, {"iss": "jira:1"}))
    with pytest.raises(ConnectAuthError) as excinfo:
        require_claims(token, ("iss", "qsh", "exp"))
    error = assert_code(excinfo, "claim_missing")
    assert "qsh" in error.detail and "exp" in error.detail and "iss" not in error.detail
    assert error.client_key == "jira:1"


# -- one spelling per token ----------------------------------------------------------------


def _flip_unused_bits(segment: str) -> str:
    """The same bytes, spelled with the spare low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    value = alphabet.index(segment[-1])
    assert value & spare == 0  # canonical to begin with
    return segment[:-1] + alphabet[value | 1]


def test_non_canonical_base64url_signature_is_refused():
    """Flipping unused low bits decodes to the same signature: refuse that spelling."""
    import base64 as b64

    from django_atlassian_connect.tokens import verify_hs256_with_secrets

    secret = "s" * 48
    token = jwt.encode({"iss": "jira:1", "iat": 1, "exp": 2, "qsh": "x"}, secret, algorithm="HS256")
    header, claims, signature = token.split(".")
    assert len(signature) % 4 == 3  # 32 bytes: 43 characters, 2 spare bits
    twin = _flip_unused_bits(signature)
    assert b64.urlsafe_b64decode(twin + "=") == b64.urlsafe_b64decode(signature + "=")
    # PyJWT refuses it too; so do we, before any secret is tried.
    with pytest.raises(ConnectAuthError) as refused:
        parse_token(f"{header}.{claims}.{twin}")
    assert refused.value.code == "token_malformed"
    parsed = parse_token(token)
    assert verify_hs256_with_secrets(parsed, [SecretCandidate(secret, "current", None)], now=1.5)


@pytest.mark.parametrize("part", [0, 1])
def test_non_canonical_base64url_header_or_claims_is_refused(part):
    token = jwt.encode({"iss": "jira:1"}, "s" * 48, algorithm="HS256")
    segments = token.split(".")
    while len(segments[part]) % 4 not in (2, 3):  # make a segment with spare bits
        token = jwt.encode({"iss": "jira:1", "pad": "x" * len(token)}, "s" * 48, algorithm="HS256")
        segments = token.split(".")
        part = 1
    segments[part] = _flip_unused_bits(segments[part])
    with pytest.raises(ConnectAuthError) as refused:
        parse_token(".".join(segments))
    assert refused.value.code == "token_malformed"


def test_junk_headers_first_do_not_keep_the_real_header_out_of_the_memo():
    from django_atlassian_connect import tokens

    tokens._decode_header.cache_clear()
    for i in range(200):  # more distinct headers than the memo holds
        junk = jwt.encode({"iss": "x"}, "s" * 48, algorithm="HS256", headers={"n": i})
        parse_token(junk)
    real = jwt.encode({"iss": "x"}, "s" * 48, algorithm="HS256")
    parse_token(real)
    hits = tokens._decode_header.cache_info().hits
    parse_token(real)
    assert tokens._decode_header.cache_info().hits == hits + 1
