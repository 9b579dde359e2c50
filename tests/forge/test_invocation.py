"""Forge Invocation Token verification: every attack and fault of spec 3.5/7.

Real tokens from the simulated Forge platform, a real JWKS server on
127.0.0.1, Django's cache. Each refusal has its code; none touches the
database (these tests have no database access at all).
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
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from django_atlassian_connect.exceptions import ForgeAuthError
from django_atlassian_connect.forge import ForgeContext, jwks, verify_fit, verify_invocation
from django_atlassian_connect.forge.ids import normalise_app_id
from django_atlassian_connect.testing.forge import ForgeSigningKey
from tests.conftest import assert_refused

pytestmark = pytest.mark.usefixtures("forge_settings")


def account(platform):
    return next(iter(platform.accounts))


def refused(token: str, code: str, status: int = 401, **kwargs) -> ForgeAuthError:
    with pytest.raises(ForgeAuthError) as info:
        verify_fit(token, **kwargs)
    return assert_refused(info.value, code, status)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- accepted -----------------------------------------------------------------------------------


def test_a_ui_invocation_is_verified_into_a_forge_context(platform):
    rf = RequestFactory()
    token = platform.mint_fit(account_id=account(platform))
    request = rf.post(
        "/forge/me",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_FORGE_OAUTH_SYSTEM="Bearer sys-token-value",  # a stray prefix is dropped
        HTTP_X_FORGE_OAUTH_USER="user-token-value",
        HTTP_X_B3_TRACEID="0af7651916cd43dd8448eb211c80319c",
    )
    ctx = verify_invocation(request)
    inst = platform.installation(None)
    assert isinstance(ctx, ForgeContext)
    assert ctx.installation_id == inst.id and ctx.cloud_id == inst.cloud_id
    assert ctx.api_base_url == inst.api_base_url and ctx.product == "jira"
    assert ctx.principal == account(platform) and ctx.environment_type == "PRODUCTION"
    assert ctx.site_url == "https://acme.atlassian.net"
    assert ctx.site_ari == f"ari:cloud:jira::site/{inst.cloud_id}"
    assert ctx.system_token == "sys-token-value" and ctx.user_token == "user-token-value"
    assert ctx.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert "sys-token-value" not in repr(ctx) and "user-token-value" not in repr(ctx)
    assert token not in repr(ctx)


@pytest.mark.parametrize("kind", ["event", "scheduled", "function"])
def test_backend_invocations_have_no_principal(platform, kind):
    claims = verify_fit(platform.mint_fit(kind=kind))
    ctx = ForgeContext.from_claims(claims)
    assert ctx.principal is None and ctx.module_type == "core:endpoint"


def test_app_id_may_be_configured_as_a_bare_uuid_or_a_list(platform, settings):
    uuid = platform.app_id.rsplit("/", 1)[1]
    token = platform.mint_fit()
    for value in (
        uuid,
        uuid.upper(),
        [
            normalise_app_id(uuid),
            "ari:cloud:ecosystem::app/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
        ],
    ):
        settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": value}
        assert verify_fit(token)["aud"] == platform.app_id


def test_missing_app_id_is_a_configuration_error(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": None}
    with pytest.raises(ImproperlyConfigured, match="FORGE_APP_ID"):
        verify_fit(platform.mint_fit())
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": "my-app"}
    with pytest.raises(ImproperlyConfigured, match="not a Forge app id"):
        verify_fit(platform.mint_fit())


def test_times_within_the_leeway_are_accepted(platform):
    now = time.time()
    assert verify_fit(platform.mint_fit(now=now - 50))  # expired 25 s ago, leeway 30
    assert verify_fit(platform.mint_fit(now=now + 25))  # issued 25 s ahead


# -- the Authorization header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header,code",
    [
        (None, "token_missing"),
        ("", "token_missing"),
        ("JWT abc.def.ghi", "token_missing"),
        ("BearerX abc.def.ghi", "token_missing"),
        ("Bearer", "token_malformed"),
        ("Bearer  abc.def.ghi", "token_malformed"),
        ("Bearer abc.def.ghi extra", "token_malformed"),
        ("Bearer not-a-jwt", "token_malformed"),
        ("Bearer a.b", "token_malformed"),
    ],
)
def test_garbled_bearer_headers(platform, header, code):
    before = platform.jwks.fetch_count
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    with pytest.raises(ForgeAuthError) as info:
        verify_invocation(RequestFactory().post("/forge/me", **extra))
    assert info.value.code == code
    assert platform.jwks.fetch_count == before


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


# -- claims ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,code",
    [
        (
            {"overrides": {"aud": "ari:cloud:ecosystem::app/11111111-2222-4333-8444-555555555555"}},
            "audience_invalid",
        ),
        ({"overrides": {"aud": ["x", "y"]}}, "audience_invalid"),
        ({"overrides": {"iss": "forge/other"}}, "issuer_mismatch"),
        (
            {
                "overrides": {
                    "app.id": "ari:cloud:ecosystem::app/11111111-2222-4333-8444-555555555555"
                }
            },
            "audience_invalid",
        ),
        ({"drop": ["jti"]}, "claim_missing"),
        ({"drop": ["exp"]}, "claim_missing"),
        ({"drop": ["nbf"]}, "claim_missing"),
        ({"drop": ["app"]}, "claim_missing"),
        (
            {"overrides": {"app.installationId": "ari:cloud:ecosystem::installation/../x"}},
            "claim_missing",
        ),
        ({"overrides": {"app.installationId": "not-an-ari"}}, "claim_missing"),
        (
            {
                "overrides": {
                    "app.installation.id": "ari:cloud:ecosystem::installation/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
                }
            },
            "claim_missing",
        ),
        ({"drop": ["app.apiBaseUrl"]}, "claim_missing"),
        (
            {"overrides": {"app.apiBaseUrl": "https://evil.example.com/ex/jira/x"}},
            "product_host_not_allowed",
        ),
        (
            {"overrides": {"app.apiBaseUrl": "https://acme.atlassian.net"}},
            "product_host_not_allowed",
        ),
        (
            {"overrides": {"app.apiBaseUrl": "ftp://127.0.0.1/ex/jira/x"}},
            "product_host_not_allowed",
        ),
        ({"overrides": {"jti": 12345}}, "claim_missing"),
    ],
)
def test_claims_are_checked(platform, changes, code):
    refused(platform.mint_fit(**changes), code)


def test_expired_and_not_yet_valid_beyond_the_leeway(platform):
    now = time.time()
    error = refused(platform.mint_fit(now=now - 60), "token_expired")
    assert "35 s ago" in error.detail or "expired" in error.detail
    refused(platform.mint_fit(now=now + 60), "token_not_yet_valid")
    refused(platform.mint_fit(overrides={"nbf": int(now) + 120}), "token_not_yet_valid")


def test_leeway_is_capped_at_thirty_seconds(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_LEEWAY": 3600}
    refused(platform.mint_fit(now=time.time() - 120), "token_expired")


def test_http_api_base_url_only_for_a_listed_loopback_host(platform, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    refused(platform.mint_fit(), "product_host_not_allowed")  # 127.0.0.1 not listed
    https_gateway = {
        "app.apiBaseUrl": "https://api.atlassian.com/ex/jira/"
        + platform.installation(None).cloud_id
    }
    assert verify_fit(platform.mint_fit(overrides=https_gateway))


def test_jti_replay_refusal_is_off_by_default_and_works_when_on(platform, settings):
    token = platform.mint_fit()
    assert verify_fit(token) and verify_fit(token)
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_REJECT_REPLAYED_JTI": True}
    fresh = platform.mint_fit()
    assert verify_fit(fresh)
    refused(fresh, "token_replayed")


def test_a_refusal_carries_the_forge_hint_not_the_connect_one(platform):
    error = refused("a.b", "token_malformed")
    assert "Bearer" in error.hint and "'jwt' query" not in error.hint


# -- as strict as the Connect checks (issue 19, item 5) --------------------------------------------------

OTHER_APP = "ari:cloud:ecosystem::app/11111111-2222-4333-8444-555555555555"


@pytest.mark.parametrize(
    "suffix",
    ["/..", "/../x", "/./rest", "/%2e%2e/x", "/%2E%2E", "/.%2E/x", "/%2e", "/a%2Fb", "/a%2eb"],
)
def test_an_api_base_url_with_dot_segments_or_encoded_separators_is_refused(platform, suffix):
    api_base_url = platform.installation(None).api_base_url + suffix
    error = refused(
        platform.mint_fit(overrides={"app.apiBaseUrl": api_base_url}), "product_host_not_allowed"
    )
    assert "app.apiBaseUrl" in error.detail and "segment" in error.detail


@pytest.mark.parametrize("lifetime", [26, 60, 3600, 10**6])
def test_a_fit_living_longer_than_the_documented_lifetime_is_refused(platform, lifetime):
    error = refused(platform.mint_fit(lifetime=lifetime), "claim_missing")
    assert f"{lifetime} s" in error.detail and "25 s" in error.detail
    assert "exp" in error.hint and "iat" in error.hint


def test_the_longest_lifetime_is_a_setting_never_below_the_documented_one(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_MAX_FIT_LIFETIME": 60}
    assert verify_fit(platform.mint_fit(lifetime=60))
    error = refused(platform.mint_fit(lifetime=61), "claim_missing")
    assert "FORGE_MAX_FIT_LIFETIME allows 60 s" in error.detail
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_MAX_FIT_LIFETIME": 5}
    assert verify_fit(platform.mint_fit(lifetime=25))  # never stricter than Forge's own 25 s
    refused(platform.mint_fit(lifetime=26), "claim_missing")


def test_the_documented_lifetime_is_accepted(platform):
    from django_atlassian_connect.forge import invocation

    assert invocation.FIT_LIFETIME == 25  # spec 3.2: exp = iat + 25
    assert verify_fit(platform.mint_fit(lifetime=25)) and verify_fit(platform.mint_fit(lifetime=1))


@pytest.mark.parametrize(
    "aud", ["ours", "ours, other", "other, ours"], ids=["alone", "first", "second"]
)
def test_a_list_aud_is_refused_even_with_our_app_id(platform, aud):
    values = [platform.app_id if v == "ours" else OTHER_APP for v in aud.split(", ")]
    error = refused(platform.mint_fit(overrides={"aud": values}), "audience_invalid")
    assert "list" in error.detail and "string" in error.hint
