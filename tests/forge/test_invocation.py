"""Forge Invocation Token verification: accepted invocations, the header, the claims.

Spec 3.5/7; the algorithm, the keys and the JWKS faults are in test_invocation_keys.
Real tokens from the simulated Forge platform, a real JWKS server on
127.0.0.1, Django's cache. Each refusal has its code; none touches the
database (these tests have no database access at all).
"""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from django_atlassian_connect.exceptions import ForgeAuthError
from django_atlassian_connect.forge import ForgeContext, verify_fit, verify_invocation
from django_atlassian_connect.forge.ids import normalise_app_id
from tests.forge.invocation_support import refused

pytestmark = pytest.mark.usefixtures("forge_settings")


def account(platform):
    return next(iter(platform.accounts))


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
