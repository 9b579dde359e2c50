"""tokens.py: RS256 signatures and HS256 with the secret history."""

from __future__ import annotations

import json

import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.testing import InstallKeyPair, install_token
from django_atlassian_connect.tokens import (
    SecretCandidate,
    parse_token,
    verify_hs256_with_secrets,
    verify_rs256,
)
from tests.tokens_support import (
    APP,
    NOW,
    OLD_SECRET,
    SECRET,
    assert_code,
    b64,
    claims,
    hs_token,
    parsed,
)


@pytest.fixture(scope="module")
def other_key() -> InstallKeyPair:
    return InstallKeyPair()


# -- RS256 ---------------------------------------------------------------------------


def test_verify_rs256_with_the_right_key(install_key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    assert token.header["kid"] == install_key.kid
    verify_rs256(token, install_key.public_pem)
    verify_rs256(token, install_key.public_pem.encode("ascii"))


def test_verify_rs256_with_a_wrong_key(install_key, other_key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(token, other_key.public_pem)
    error = assert_code(excinfo, "signature_invalid")
    assert error.client_key == "jira:1"


def test_verify_rs256_detects_tampered_claims(install_key):
    head, _, sig = install_token(install_key, client_key="jira:1", app_base_url=APP).split(".")
    forged = f"{head}.{b64(json.dumps(claims(iss='jira:victim')))}.{sig}"
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(parse_token(forged), install_key.public_pem)
    assert_code(excinfo, "signature_invalid")


@pytest.mark.parametrize(
    "key", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_verify_rs256_unusable_key(install_key, key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(token, key)
    assert_code(excinfo, "key_invalid")


# -- HS256 with the secret history ------------------------------------------------


def test_verify_with_the_current_secret():
    token = parsed()
    result = verify_hs256_with_secrets(
        token,
        [SecretCandidate(secret=SECRET, label="sha256:current")],
        now=NOW,
    )
    assert result.candidate.label == "sha256:current"
    assert result.within_grace is False
    assert result.retired is False


def test_verify_with_a_secret_retired_within_grace():
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    result = verify_hs256_with_secrets(
        token,
        [
            SecretCandidate(secret=SECRET, label="sha256:current"),
            SecretCandidate(secret=OLD_SECRET, label="sha256:old", retired_at=NOW - 899),
        ],
        now=NOW,
        grace_period=900,
    )
    assert result.candidate.label == "sha256:old"
    assert result.within_grace is True
    assert result.retired is True


def test_grace_period_boundary_is_inclusive():
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    old = SecretCandidate(secret=OLD_SECRET, label="sha256:old", retired_at=NOW - 900)
    assert verify_hs256_with_secrets(token, [old], now=NOW, grace_period=900).within_grace
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [old], now=NOW + 1, grace_period=900)
    assert_code(excinfo, "secret_retired")


def test_verify_with_a_secret_retired_beyond_grace_says_which_and_when():
    retired_at = 1_699_990_000.0  # 2023-11-14T19:26:40Z
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            token,
            [
                SecretCandidate(secret=SECRET, label="sha256:aaaaaaaaaaaa"),
                SecretCandidate(
                    secret=OLD_SECRET, label="sha256:0123456789ab", retired_at=retired_at
                ),
            ],
            now=NOW,
            grace_period=900,
        )
    error = assert_code(excinfo, "secret_retired")
    assert "sha256:0123456789ab" in error.detail
    assert "2023-11-14T19:26:40Z" in error.detail
    assert "900" in error.detail
    assert error.extra == {"secret": "sha256:0123456789ab", "retired_at": retired_at}
    assert error.client_key == "jira:client-1"
    for text in (str(error), repr(error), error.detail, error.hint):
        assert OLD_SECRET not in text and SECRET not in text


@pytest.mark.parametrize(
    "candidates",
    [
        [],
        [SecretCandidate(secret="wrong", label="sha256:x")],
        [
            SecretCandidate(secret="wrong", label="a"),
            SecretCandidate(secret="also", label="b", retired_at=NOW),
        ],
    ],
)
def test_verify_with_no_matching_secret(candidates):
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(parsed(), candidates, now=NOW)
    error = assert_code(excinfo, "signature_invalid")
    assert SECRET not in str(error)


def test_tampered_hs256_token_does_not_verify():
    head, _, sig = hs_token(claims()).split(".")
    forged = f"{head}.{b64(json.dumps(claims(sub='admin')))}.{sig}"
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            parse_token(forged), [SecretCandidate(secret=SECRET, label="x")], now=NOW
        )
    assert_code(excinfo, "signature_invalid")


def test_secret_candidate_repr_hides_the_secret():
    candidate = SecretCandidate(secret=SECRET, label="sha256:abc")
    assert SECRET not in repr(candidate)
    assert "sha256:abc" in repr(candidate)
