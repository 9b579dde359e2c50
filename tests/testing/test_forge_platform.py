"""The simulated Forge platform plays Atlassian's side of Forge Remote faithfully.

Everything here is checked from the outside, the way an app sees it: over
HTTP on 127.0.0.1, with plain PyJWT, without django_atlassian_connect.forge.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jwt
import pytest
import requests
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from django_atlassian_connect.testing.forge import (
    CLIENT_KEY_PROPERTY,
    ForgePlatform,
    ForgeSigningKey,
    KeyRing,
    mint_fit,
    paid_license,
)
from django_atlassian_connect.testing.forge import delivery as delivery_module
from django_atlassian_connect.testing.forge.wire import Reply, Request, handler_for
from django_atlassian_connect.testing.server import LocalHTTPServer

APP_KEY = "com.example.tests"  # tests/settings.py
ARI_INSTALLATION = re.compile(r"^ari:cloud:ecosystem::installation/[0-9a-f-]{36}$")


@pytest.fixture(scope="module")
def signing_key() -> ForgeSigningKey:
    return ForgeSigningKey()


@pytest.fixture
def forge(signing_key):
    with ForgePlatform(keys=KeyRing(signing_key), connect_key=APP_KEY) as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        platform.add_installation("jira", connect_client_key="jira:client-key-1")
        yield platform


@pytest.fixture
def user(forge):
    return next(iter(forge.accounts))


class Remote(LocalHTTPServer):
    """A stand-in for the app: answers from ``plan`` (then 204) and records every request.

    A plan entry is a status code, or ``("sleep", seconds)`` before a 204.
    """

    def __init__(self, *plan: Any) -> None:
        super().__init__()
        self.plan = list(plan)
        self.received: list[Request] = []

    def handler_class(self):
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        self.received.append(request)
        step = self.plan.pop(0) if self.plan else 204
        if isinstance(step, tuple):
            time.sleep(step[1])
            step = 204
        if 300 <= step < 400:
            return Reply(step, b"", {"Location": "/elsewhere"})
        return Reply(step, {"status": step} if step != 204 else b"")

    def claims(self, index: int = -1) -> dict[str, Any]:
        token = self.received[index].headers["authorization"].split(" ", 1)[1]
        return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def remote():
    with Remote() as server:
        yield server


def jwks_key(forge, token: str) -> Any:
    """The key for ``token`` from the JWKS as a verifier would get it (plain PyJWT)."""
    keys = requests.get(forge.jwks_url, timeout=5).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key


def verify(forge, token: str) -> dict[str, Any]:
    return jwt.decode(
        token,
        jwks_key(forge, token),
        algorithms=["RS256"],
        audience=forge.app_id,
        issuer="forge/invocation-token",
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "jti"]},
    )


def gateway_get(forge, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(forge.gateway_url + path, headers=headers, timeout=5)


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


# -- the API gateway -----------------------------------------------------------


def test_myself_answers_as_the_tokens_identity(forge, user):
    installation = forge.installation()
    myself = f"/ex/jira/{installation.cloud_id}/rest/api/3/myself"
    app = gateway_get(forge, myself, forge.system_token()).json()
    assert app["accountType"] == "app"
    assert app["accountId"] == forge.directory.app_account.account_id
    person = gateway_get(forge, myself, forge.user_token(user)).json()
    assert (person["accountId"], person["accountType"]) == (user, "atlassian")
    assert person["emailAddress"] == "alana@example.com"


def test_server_info_is_anonymous_and_names_the_site(forge):
    installation = forge.installation()
    response = gateway_get(forge, f"/ex/jira/{installation.cloud_id}/rest/api/3/serverInfo")
    assert response.status_code == 200
    assert response.json()["baseUrl"] == installation.site_url


def test_confluence_current_user(forge, user):
    wiki = forge.add_installation("confluence")
    current = f"/ex/confluence/{wiki.cloud_id}/wiki/rest/api/user/current"
    assert gateway_get(forge, current, forge.system_token(wiki)).json()["type"] == "app"
    body = gateway_get(forge, current, forge.user_token(user, wiki)).json()
    assert (body["accountId"], body["type"]) == (user, "known")
    # a Jira path on a Confluence site does not exist
    jira_path = f"/ex/jira/{wiki.cloud_id}/rest/api/3/myself"
    assert gateway_get(forge, jira_path, forge.system_token(wiki)).status_code == 404


def test_only_its_own_unexpired_tokens_are_accepted(forge, user):
    installation = forge.installation()
    myself = f"/ex/jira/{installation.cloud_id}/rest/api/3/myself"
    missing = gateway_get(forge, myself)
    assert missing.status_code == 401
    assert missing.json()["code"] == 401 and missing.json()["message"] == "Unauthorized"
    foreign = jwt.encode({"exp": int(time.time()) + 600}, "k" * 32, algorithm="HS256")
    assert gateway_get(forge, myself, foreign).status_code == 401
    assert gateway_get(forge, myself, forge.mint_fit()).status_code == 401  # a FIT is no token

    token = forge.system_token()
    assert gateway_get(forge, myself, token).status_code == 200
    forge.expire_system_token()
    refused = gateway_get(forge, myself, token)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    assert gateway_get(forge, myself, forge.system_token()).status_code == 200  # a new one

    user_token = forge.user_token(user)
    forge.expire_user_token(user)
    assert gateway_get(forge, myself, user_token).status_code == 401


def test_token_lifetimes_follow_the_gateway_clock(forge, user):
    system, person = forge.system_token(), forge.user_token(user)
    for token, ttl in ((system, 3 * 3600), (person, 3600)):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == ttl
    myself = f"/ex/jira/{forge.installation().cloud_id}/rest/api/3/myself"
    now = time.time()
    forge.tokens.clock = lambda: now + 3601  # the user token has expired, the system one not
    assert gateway_get(forge, myself, person).status_code == 401
    assert gateway_get(forge, myself, system).status_code == 200
    forge.tokens.clock = lambda: now + 3 * 3600 + 1
    assert gateway_get(forge, myself, system).status_code == 401


def test_system_token_ttl_is_configurable():
    with ForgePlatform(system_token_ttl=600) as forge:
        forge.add_installation()
        claims = jwt.decode(forge.system_token(), options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 600


def test_a_token_on_another_installations_site_is_forbidden(forge, user):
    other = forge.add_installation("jira")
    path = f"/ex/jira/{other.cloud_id}/rest/api/3/myself"
    for token in (forge.user_token(user), forge.system_token()):
        response = gateway_get(forge, path, token)
        assert response.status_code == 403
        assert response.json()["code"] == 403
    unknown = "/ex/jira/00000000-0000-4000-8000-000000000000/rest/api/3/myself"
    assert gateway_get(forge, unknown, forge.system_token()).status_code == 404


def offline_token(forge, token: str, context_ids: list[str], user_id: str) -> requests.Response:
    query = (
        "mutation forge_remote_offlineUserAuthToken($input: OfflineUserAuthTokenInput!) "
        "{ offlineUserAuthToken(input: $input) { success errors { message } "
        "authToken { token ttl } } }"
    )
    body = {"query": query, "variables": {"input": {"contextIds": context_ids, "userId": user_id}}}
    return requests.post(
        forge.gateway_url + "/graphql",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def test_offline_user_token_mutation(forge, user):
    installation = forge.installation()
    response = offline_token(forge, forge.system_token(), [installation.site_ari], user)
    assert response.status_code == 200
    result = response.json()["data"]["offlineUserAuthToken"]
    assert result["success"] is True and result["errors"] == []
    assert 3590 <= result["authToken"]["ttl"] <= 3600
    offline = result["authToken"]["token"]
    assert forge.issued[offline].kind == "offline"
    myself = f"/ex/jira/{installation.cloud_id}/rest/api/3/myself"
    assert gateway_get(forge, myself, offline).json()["accountId"] == user


@pytest.mark.parametrize("mistake", ["unknown user", "other site", "user token"])
def test_offline_user_token_errors_come_with_http_200(forge, user, mistake):
    installation = forge.installation()
    context_ids, user_id, token = [installation.site_ari], user, forge.system_token()
    if mistake == "unknown user":
        user_id = "557058:nobody"
    elif mistake == "other site":
        context_ids = [forge.add_installation().site_ari]
    else:
        token = forge.user_token(user)
    response = offline_token(forge, token, context_ids, user_id)
    assert response.status_code == 200
    result = response.json()["data"]["offlineUserAuthToken"]
    assert result["success"] is False and result["authToken"] is None
    assert result["errors"][0]["message"]


def test_connect_client_key_property(forge):
    installation = forge.installation()
    prop = f"/rest/atlassian-connect/1/addons/{APP_KEY}/properties/{CLIENT_KEY_PROPERTY}"
    url = f"/ex/jira/{installation.cloud_id}{prop}"
    response = gateway_get(forge, url, forge.system_token())
    assert response.json() == {"key": CLIENT_KEY_PROPERTY, "value": "jira:client-key-1"}
    wrong_key = url.replace(APP_KEY, "com.example.other")
    assert gateway_get(forge, wrong_key, forge.system_token()).status_code == 404

    forge_only = forge.add_installation("jira")
    url = f"/ex/jira/{forge_only.cloud_id}{prop}"
    assert gateway_get(forge, url, forge.system_token(forge_only)).status_code == 404

    wiki = forge.add_installation("confluence", connect_client_key="wiki:client-key")
    url = f"/ex/confluence/{wiki.cloud_id}/wiki{prop}"
    assert gateway_get(forge, url, forge.system_token(wiki)).json()["value"] == "wiki:client-key"


def test_every_call_is_logged_with_its_token_kind(forge, user):
    installation = forge.installation()
    myself = f"/ex/jira/{installation.cloud_id}/rest/api/3/myself"
    gateway_get(forge, myself, forge.system_token())
    gateway_get(forge, myself, forge.user_token(user))
    gateway_get(forge, myself, "not-ours")
    gateway_get(forge, myself)
    kinds = [(e["token_kind"], e["status"]) for e in forge.gateway.log]
    assert kinds == [("system", 200), ("user", 200), ("unknown", 401), (None, 401)]
    (entry,) = forge.gateway.calls("system")
    assert entry["path"] == myself and entry["installation_id"] == installation.id
    assert entry["token"] == forge.issued[forge.system_token()].fingerprint
    assert forge.system_token() not in repr(forge.gateway.log)


def test_injected_failures(forge):
    myself = f"/ex/jira/{forge.installation().cloud_id}/rest/api/3/myself"
    token = forge.system_token()
    forge.gateway.fail_next(401, count=2)
    assert [gateway_get(forge, myself, token).status_code for _ in range(3)] == [401, 401, 200]
    forge.gateway.rate_limit(retry_after=7)
    limited = gateway_get(forge, myself, token)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert gateway_get(forge, myself, token).status_code == 200


# -- invocations, events, triggers ----------------------------------------------


def test_invoke_sends_what_invoke_remote_sends(forge, remote, user):
    forge.remote_base_url = remote.url
    response = forge.invoke(
        "/forge/echo", body={"a": 1}, account_id=user, headers={"x-custom": "yes"}
    )
    assert response.status_code == 204
    (request,) = remote.received
    assert (request.method, request.path) == ("POST", "/forge/echo")
    assert json.loads(request.body) == {"a": 1}
    headers = request.headers
    assert headers["authorization"].startswith("Bearer ")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-b3-traceid"])
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-b3-spanid"])
    assert headers["x-forge-oauth-system"] == forge.current_system_token()  # bare, no "Bearer "
    assert forge.issued[headers["x-forge-oauth-user"]].account_id == user
    assert headers["x-custom"] == "yes"
    assert verify(forge, headers["authorization"][7:])["principal"] == user


def test_invoke_without_a_user_or_tokens(forge, remote, user):
    forge.remote_base_url = remote.url
    forge.invoke("/forge/x", "GET")
    forge.invoke("/forge/x", "GET", account_id=user, user_token=False, system_token=False)
    first, second = (r.headers for r in remote.received)
    assert "x-forge-oauth-user" not in first and "x-forge-oauth-system" in first
    assert "principal" not in remote.claims(0)
    assert "x-forge-oauth-user" not in second and "x-forge-oauth-system" not in second
    assert remote.claims(1)["principal"] == user


def test_the_system_token_is_reused_until_it_is_renewed(forge, remote):
    forge.remote_base_url = remote.url
    forge.invoke("/forge/x")
    forge.invoke("/forge/x")
    first, second = (r.headers["x-forge-oauth-system"] for r in remote.received)
    assert first == second
    assert remote.claims(0)["jti"] != remote.claims(1)["jti"]  # a fresh FIT each time
    forge.expire_system_token()
    forge.invoke("/forge/x")
    renewed = remote.received[-1].headers["x-forge-oauth-system"]
    assert renewed != first
    exp = [jwt.decode(t, options={"verify_signature": False})["exp"] for t in (first, renewed)]
    assert exp[1] > exp[0]


def test_lifecycle_body_and_token(forge, remote):
    forge.remote_base_url = remote.url
    installation = forge.installation()
    (attempt,) = forge.deliver_lifecycle("avi:forge:installed:app", installation)
    assert attempt.ok and attempt.status == 204
    (request,) = remote.received
    assert request.path == "/forge/lifecycle"
    body = json.loads(request.body)
    assert body == {
        "id": installation.uuid,
        "eventType": "avi:forge:installed:app",
        "context": f"ari:cloud:jira::site/{installation.cloud_id}",
        "installerAccountId": next(iter(forge.accounts)),
        "app": {
            "id": forge.app_id.rsplit("/", 1)[1],
            "name": "simulated-forge-app",
            "ownerAccountId": forge.directory.owner_account_id,
            "version": "1.0.0",
        },
        "environment": {"id": forge.directory.environment.uuid},
    }
    assert "x-forge-oauth-system" in request.headers
    assert "x-forge-oauth-user" not in request.headers
    claims = verify(forge, request.headers["authorization"][7:])
    assert "principal" not in claims and claims["app"]["module"]["type"] == "core:endpoint"
    assert "siteUrl" not in claims["context"]


def test_upgraded_event_names_the_upgrader_and_can_be_wrapped(forge, remote):
    forge.remote_base_url = remote.url
    forge.deliver_lifecycle("avi:forge:upgraded:app", wrap_in_payload=True)
    payload = json.loads(remote.received[0].body)["payload"]
    assert payload["eventType"] == "avi:forge:upgraded:app"
    assert "upgraderAccountId" in payload and "installerAccountId" not in payload


def test_failed_lifecycle_deliveries_are_retried_with_a_retry_context(forge, remote):
    forge.remote_base_url = remote.url
    remote.plan = [500, 401, 302]
    attempts = forge.deliver_lifecycle(wrap_in_payload=True)
    assert [a.status for a in attempts] == [500, 401, 302, 204]
    assert [a.failure for a in attempts] == [
        "INVALID_REMOTE_INVOCATION_ERROR",
        "INVALID_FORGE_INVOCATION_TOKEN",
        "INVALID_REMOTE_INVOCATION_ERROR",  # redirects are not followed
        None,
    ]
    contexts = [json.loads(r.body)["payload"].get("retryContext") for r in remote.received]
    assert contexts == [
        None,
        {"retryData": None, "retryCount": 1, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
        {"retryData": None, "retryCount": 2, "retryReason": "INVALID_FORGE_INVOCATION_TOKEN"},
        {"retryData": None, "retryCount": 3, "retryReason": "INVALID_REMOTE_INVOCATION_ERROR"},
    ]
    assert attempts[1].body == json.loads(remote.received[1].body)
    assert len({remote.claims(i)["jti"] for i in range(4)}) == 4  # a fresh FIT each time


def test_lifecycle_gives_up_after_the_retries(forge, remote):
    forge.remote_base_url = remote.url
    remote.plan = [503] * 10
    attempts = forge.deliver_lifecycle(retries=4)
    assert len(attempts) == len(remote.received) == 5
    assert not any(a.ok for a in attempts)
    assert forge.deliver_lifecycle(retries=0)[0].status == 503


def test_timeouts_and_network_errors_are_retried(forge, remote, monkeypatch):
    monkeypatch.setattr(delivery_module, "EVENT_TIMEOUT", 0.3)
    forge.remote_base_url = remote.url
    remote.plan = [("sleep", 0.8)]
    attempts = forge.deliver_lifecycle()
    assert [a.failure for a in attempts] == ["TIMEOUT_ERROR", None]
    assert attempts[0].status is None and "in time" in attempts[0].error
    assert attempts[1].body["retryContext"]["retryReason"] == "TIMEOUT_ERROR"

    forge.remote_base_url = "http://127.0.0.1:9"  # nothing listens there
    attempts = forge.deliver_lifecycle(retries=1)
    assert [a.failure for a in attempts] == ["INVALID_REMOTE_INVOCATION_ERROR"] * 2


def test_scheduled_trigger_never_carries_a_user_token(forge, remote, user):
    forge.remote_base_url = remote.url
    installation = forge.installation()
    response = forge.trigger_scheduled()
    assert response.status_code == 204
    (request,) = remote.received
    assert (request.method, request.path) == ("POST", "/forge/scheduled")
    assert json.loads(request.body) == {
        "context": {"cloudId": installation.cloud_id, "moduleKey": "forge-token-refresh"}
    }
    assert request.headers["x-forge-oauth-system"] == forge.current_system_token()
    assert "x-forge-oauth-user" not in request.headers
    claims = verify(forge, request.headers["authorization"][7:])
    assert "principal" not in claims
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "forge-token-refresh"}
    assert forge.sent[-1]["kind"] == "scheduled"


def test_installations_are_found_by_ari_or_uuid(forge):
    installation = forge.installation()
    assert forge.installation(installation.id) is installation
    assert forge.installation(installation.uuid) is installation
    with pytest.raises(AssertionError, match="no installation"):
        forge.installation("nope")
    with pytest.raises(ValueError, match="product"):
        forge.add_installation("bitbucket")


# -- the pytest fixtures -------------------------------------------------------


def _unverified(request: HttpRequest) -> dict[str, Any]:
    # Deliberately NOT verified: these views only prove what the fixtures send.
    token = request.headers["Authorization"].split(" ", 1)[1]
    return jwt.decode(token, options={"verify_signature": False})


def probe(request: HttpRequest) -> JsonResponse:
    claims = _unverified(request)
    return JsonResponse(
        {
            "accountId": claims.get("principal"),
            "installationId": claims["app"]["installationId"],
            "system": request.headers.get("x-forge-oauth-system"),
            "user": request.headers.get("x-forge-oauth-user"),
            "trace": request.headers.get("x-b3-traceid"),
            "method": request.method,
            "body": json.loads(request.body or b"null"),
        }
    )


#: The installation each ``lifecycle`` delivery's token names, in order.
DELIVERED_FOR: list[str] = []


@csrf_exempt
def lifecycle(request: HttpRequest) -> HttpResponse:
    claims = _unverified(request)
    assert claims["app"]["module"]["type"] == "core:endpoint"
    DELIVERED_FOR.append(claims["app"]["installationId"])
    return HttpResponse(status=204)


urlpatterns = [path("forge/probe", probe), path("forge/lifecycle", csrf_exempt(lifecycle))]


@pytest.mark.urls(__name__)
def test_forge_client_invokes_as_the_user(forge_client):
    response = forge_client.get("/forge/probe")
    assert response.json()["accountId"] == forge_client.account_id


@pytest.mark.urls(__name__)
def test_forge_client_sends_the_tokens(forge_client, forge_host):
    body = forge_client.post("/forge/probe", json={"x": 1}).json()
    assert body["method"] == "POST" and body["body"] == {"x": 1}
    assert body["installationId"] == forge_host.installation().id
    assert body["system"] == forge_host.current_system_token()
    assert forge_host.issued[body["user"]].account_id == forge_client.account_id
    assert body["trace"]

    as_app = forge_client.as_app().put("/forge/probe").json()
    assert as_app["accountId"] is None and as_app["user"] is None
    assert as_app["system"] == body["system"]


def test_forge_host_configures_the_library(forge_host, settings):
    conf = settings.ATLASSIAN_CONNECT
    assert conf["FORGE_APP_ID"] == forge_host.app_id
    assert conf["FORGE_JWKS_URL"] == forge_host.jwks_url
    assert conf["FORGE_API_HOSTS"] == ["127.0.0.1"]
    assert conf["APP_KEY"] == forge_host.connect_key
    assert len(forge_host.installations) == len(forge_host.accounts) == 1
    assert requests.get(forge_host.jwks_url, timeout=5).json()["keys"]


@pytest.mark.urls(__name__)
def test_forge_host_delivers_events_through_the_test_client(forge_host):
    DELIVERED_FOR.clear()
    (attempt,) = forge_host.deliver_lifecycle()
    assert attempt.status == 204
    assert DELIVERED_FOR == [forge_host.installation().id]
