"""Forge Invocation Token verification: the algorithm, the signing keys, the JWKS and its faults.

Real tokens from the simulated Forge platform, a real JWKS server on 127.0.0.1,
Django's cache; no database access at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from django.core.cache import cache

from django_atlassian_connect.forge import jwks, verify_fit
from django_atlassian_connect.testing.forge import ForgeSigningKey
from tests.forge.invocation_support import refused

pytestmark = pytest.mark.usefixtures("forge_settings")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- algorithm and keys ------------------------------------------------------------------------------


def test_alg_none_is_refused_before_any_key_lookup(platform):
    before = platform.jwks.fetch_count
    claims = jwt.decode(platform.mint_fit(), options={"verify_signature": False})
    header = b64(json.dumps({"alg": "none", "kid": "k"}).encode())
    token = f"{header}.{b64(json.dumps(claims).encode())}."
    refused(token, "alg_not_allowed")
    assert platform.jwks.fetch_count == before


def test_hs256_signed_with_the_public_key_is_refused(platform):
    """Algorithm confusion: the JWKS is public, so 'HS256 with the public key' is forgeable."""
    before = platform.jwks.fetch_count
    key = platform.keys.current
    claims = jwt.decode(platform.mint_fit(), options={"verify_signature": False})
    header = b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key.public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    refused(f"{header}.{body}.{b64(signature.digest())}", "alg_not_allowed")
    assert platform.jwks.fetch_count == before


def test_right_kid_wrong_key_is_signature_invalid(platform):
    forger = ForgeSigningKey(kid=platform.keys.current.kid)
    refused(platform.mint_fit(key=forger), "signature_invalid")


def test_altered_claims_break_the_signature(platform):
    header, body, signature = platform.mint_fit().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["principal"] = "557058:someone-else"
    refused(f"{header}.{b64(json.dumps(claims).encode())}.{signature}", "signature_invalid")


def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_window(platform):
    verify_fit(platform.mint_fit())  # warm; this fetch opened a window
    stranger = ForgeSigningKey()  # e.g. a staging-signed token: its kid is not in our JWKS
    before = platform.jwks.fetch_count
    for _ in range(100):
        refused(platform.mint_fit(key=stranger), "key_invalid")
    assert platform.jwks.fetch_count == before  # the window is still open
    cache.delete(jwks._cache_key(platform.jwks_url, ":refetch"))  # the window has passed
    for _ in range(100):
        refused(platform.mint_fit(key=stranger), "key_invalid")
    assert platform.jwks.fetch_count == before + 1


def test_warm_verification_makes_no_fetch_and_no_cache_read(platform, monkeypatch):
    verify_fit(platform.mint_fit())
    before = platform.jwks.fetch_count
    reads = []
    monkeypatch.setattr(
        jwks, "caches", type("C", (), {"__getitem__": lambda s, k: reads.append(k)})()
    )
    for _ in range(50):
        verify_fit(platform.mint_fit())
    assert platform.jwks.fetch_count == before and reads == []


def test_a_rotation_is_picked_up_once_the_refresh_window_passed(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_JWKS_MIN_REFRESH": 1}
    verify_fit(platform.mint_fit())  # the first fetch opens a 1 s window
    new_key = platform.rotate_keys(keep_old=True)
    token = platform.mint_fit(key=new_key)
    before = platform.jwks.fetch_count
    refused(token, "key_invalid")  # inside the window: no refetch
    assert platform.jwks.fetch_count == before
    time.sleep(1.1)
    assert verify_fit(token)["iss"] == "forge/invocation-token"
    assert platform.jwks.fetch_count == before + 1


def test_isolated_cloud_tokens_need_configuration(platform, settings):
    refused(platform.mint_fit(overrides={"icLabel": "eu-ic"}), "key_invalid")
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_IC_JWKS_URL_TEMPLATE": "http://127.0.0.1:9/{icLabel}/jwks.json",
    }
    error = refused(platform.mint_fit(overrides={"icLabel": "../../evil"}), "key_invalid")
    assert "label" in error.detail


# -- JWKS faults: 503, nothing written, the last good set kept ---------------------------------------


@pytest.mark.parametrize("fault", ["down", "refuse", "slow", "garbage", "oversized", "wrong_shape"])
def test_no_jwks_at_all_is_503_key_unavailable(platform, settings, fault):
    platform.jwks.fault = fault
    platform.jwks.slow_seconds = 6
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_JWKS_FETCH_TIMEOUT": 1.0}
    error = refused(platform.mint_fit(), "key_unavailable", status=503)
    assert error.status_code == 503
    platform.jwks.fault = None


def test_the_last_good_set_is_kept_when_a_refresh_fails(platform, settings):
    verify_fit(platform.mint_fit())
    platform.jwks.fault = "down"
    later = time.time() + 2 * 86400  # past any freshness: a refresh is due and fails
    token = platform.mint_fit(now=later)
    assert verify_fit(token, now=later)["iss"] == "forge/invocation-token"


def test_freshness_follows_cache_control_clamped(platform):
    for max_age, expected in (
        (10, jwks.MIN_TTL),
        (7200, 7200),
        (10**7, jwks.MAX_TTL),
        (None, jwks.DEFAULT_TTL),
    ):
        platform.jwks.max_age = max_age
        jwks.clear_memory_cache()
        cache.clear()
        now = time.time()
        jwks.signing_key(platform.keys.current.kid, platform.jwks_url, now=now)
        keyset = jwks._sets[platform.jwks_url]
        assert round(keyset.fresh_until - keyset.fetched_at) == expected
    platform.jwks.max_age = 3600


def test_another_process_fetch_is_read_from_the_shared_cache(platform):
    verify_fit(platform.mint_fit())
    before = platform.jwks.fetch_count
    jwks.clear_memory_cache()  # a second process: only the shared cache is warm
    verify_fit(platform.mint_fit())
    assert platform.jwks.fetch_count == before
