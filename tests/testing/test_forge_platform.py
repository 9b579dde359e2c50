"""The simulated Forge platform plays Atlassian's side of Forge Remote faithfully: JWKS, FITs.

Everything here is checked from the outside, the way an app sees it: over
HTTP on 127.0.0.1, with plain PyJWT, without django_atlassian_connect.forge.
"""

from __future__ import annotations

import re
import time

import jwt
import pytest
import requests

from django_atlassian_connect.testing.forge import (
    ForgePlatform,
    ForgeSigningKey,
    mint_fit,
    paid_license,
)
from tests.testing.forge_platform_support import ARI_INSTALLATION, jwks_key, verify

# -- JWKS ----------------------------------------------------------------------


def test_jwks_is_an_rfc7517_set_with_a_cache_header(forge):
    response = requests.get(forge.jwks_url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert re.fullmatch(r"forge/invocation-token/wf-[0-9a-f-]{36}", key["kid"])
    assert forge.jwks.fetch_count == 1
    assert forge.jwks.requests[0]["path"] == "/.well-known/jwks.json"


@pytest.mark.parametrize(("max_age", "header"), [(600, "public, max-age=600"), (None, None)])
def test_jwks_cache_header_is_configurable(max_age, header):
    with ForgePlatform(jwks_max_age=max_age) as forge:
        assert requests.get(forge.jwks_url, timeout=5).headers.get("Cache-Control") == header


def test_rotation_keeps_or_drops_the_old_key(forge, signing_key):
    forge.add_installation("confluence")
    new = forge.rotate_keys()
    kids = [k["kid"] for k in requests.get(forge.jwks_url, timeout=5).json()["keys"]]
    assert kids == [signing_key.kid, new.kid]
    token = forge.mint_fit()
    assert jwt.get_unverified_header(token)["kid"] == new.kid
    assert verify(forge, token)["aud"] == forge.app_id

    newest = forge.rotate_keys(keep_old=False)
    kids = [k["kid"] for k in requests.get(forge.jwks_url, timeout=5).json()["keys"]]
    assert kids == [newest.kid]
    assert forge.jwks.fetch_count == 3


@pytest.mark.parametrize("fault", ["down", "garbage", "oversized", "wrong_shape"])
def test_jwks_fault_modes(forge, fault):
    forge.jwks.fault = fault
    response = requests.get(forge.jwks_url, timeout=5)
    if fault == "down":
        assert response.status_code == 503
    elif fault == "garbage":
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()
    elif fault == "oversized":
        assert len(response.content) >= 2 * 1024 * 1024
        assert int(response.headers["Content-Length"]) == len(response.content)
        assert response.json()["keys"]  # valid: only a size limit refuses it
    else:
        assert "keys" not in response.json()
    assert forge.jwks.fetch_count == 1
    forge.jwks.fault = None
    assert requests.get(forge.jwks_url, timeout=5).json()["keys"]


def test_jwks_slow_answers_after_the_delay(forge):
    forge.jwks.fault = "slow"
    forge.jwks.slow_seconds = 0.6
    with pytest.raises(requests.Timeout):
        requests.get(forge.jwks_url, timeout=0.2)
    started = time.monotonic()
    assert requests.get(forge.jwks_url, timeout=5).json()["keys"]
    assert time.monotonic() - started >= 0.5


def test_jwks_refuse_closes_the_port_and_reopens_it(forge):
    url = forge.jwks_url
    forge.jwks.fault = "refuse"
    assert forge.jwks_url == url
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    forge.jwks.fault = None
    assert requests.get(url, timeout=5).status_code == 200


def test_unknown_fault_is_refused(forge):
    with pytest.raises(ValueError, match="fault is one of"):
        forge.jwks.fault = "flaky"


# -- FITs ----------------------------------------------------------------------


def test_a_ui_fit_has_every_claim_of_the_spec(forge, user, signing_key):
    installation = forge.installation()
    token = forge.mint_fit(account_id=user)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": signing_key.kid}
    claims = verify(forge, token)
    assert claims["iss"] == "forge/invocation-token"
    assert claims["aud"] == forge.app_id
    assert forge.app_id.startswith("ari:cloud:ecosystem::app/")
    assert claims["iat"] == claims["nbf"] and claims["exp"] == claims["iat"] + 25
    assert re.fullmatch(r"[0-9a-f]{40}", claims["jti"])
    assert claims["principal"] == user
    app = claims["app"]
    assert app["id"] == forge.app_id
    assert ARI_INSTALLATION.match(app["installationId"])
    assert app["installation"]["id"] == app["installationId"] == installation.id
    context = {
        "name": "jira",
        "apiBaseUrl": f"{forge.gateway_url}/ex/jira/{installation.cloud_id}",
        "cloudId": installation.cloud_id,
    }
    assert app["installation"]["contexts"] == [context]
    assert app["apiBaseUrl"] == context["apiBaseUrl"] == installation.api_base_url
    assert (app["version"], app["appVersion"]) == ("1", "1.0.0")
    assert app["environment"]["type"] == "PRODUCTION"
    assert re.fullmatch(
        r"ari:cloud:ecosystem::environment/[0-9a-f-]{36}/[0-9a-f-]{36}", app["environment"]["id"]
    )
    assert app["module"] == {"type": "jira:issuePanel", "key": "forge-app-panel"}
    assert "license" not in app
    ctx = claims["context"]
    assert (ctx["cloudId"], ctx["siteUrl"]) == (installation.cloud_id, installation.site_url)
    assert ctx["moduleKey"] == "forge-app-panel" and ctx["localId"] and ctx["extension"]


@pytest.mark.parametrize("kind", ["event", "scheduled"])
def test_event_and_trigger_fits_have_no_principal_and_no_site_url(forge, kind):
    claims = verify(forge, forge.mint_fit(kind=kind, module_key="forge-tick"))
    assert "principal" not in claims
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "forge-tick"}
    cloud_id = forge.installation().cloud_id
    assert claims["context"] == {"cloudId": cloud_id, "moduleKey": "forge-tick"}


def test_function_fits_carry_no_context_and_licenses_are_optional(forge):
    forge.license = paid_license()
    claims = verify(forge, forge.mint_fit(kind="function"))
    assert "context" not in claims
    license_claim = claims["app"]["license"]
    assert license_claim["active"] is True and license_claim["supportEntitlementNumber"] is None
    with pytest.raises(ValueError, match="kind is one of"):
        forge.mint_fit(kind="webhook")


def test_claims_can_be_changed_or_removed_for_attack_tests(forge):
    token = forge.mint_fit(
        overrides={"aud": "x", "app.apiBaseUrl": "https://evil.example"},
        drop=["jti", "app.installationId"],
    )
    claims = jwt.decode(token, jwks_key(forge, token), algorithms=["RS256"], audience="x")
    assert "jti" not in claims and "installationId" not in claims["app"]
    assert claims["app"]["apiBaseUrl"] == "https://evil.example"
    assert claims["app"]["installation"]["id"]  # untouched


def test_forged_and_unknown_keys(forge, signing_key):
    forged = forge.mint_fit(key=ForgeSigningKey(kid=signing_key.kid))
    assert jwt.get_unverified_header(forged)["kid"] == signing_key.kid
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forge, forged)
    unknown = forge.mint_fit(key=ForgeSigningKey())
    with pytest.raises(StopIteration):  # its kid is not in the JWKS
        jwks_key(forge, unknown)
    # the module-level function signs with any key and kid too
    token = mint_fit(
        signing_key,
        app_id=forge.app_id,
        installation=forge.installation(),
        environment=forge.directory.environment,
        kid="forge/invocation-token/wf-other",
        headers={"alg": "RS256", "x-test": 1},
    )
    assert jwt.get_unverified_header(token)["kid"] == "forge/invocation-token/wf-other"
