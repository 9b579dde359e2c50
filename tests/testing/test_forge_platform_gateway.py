"""The simulated Forge platform's API gateway: identities, token checks, offline tokens, faults."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from django_atlassian_connect.testing.forge import CLIENT_KEY_PROPERTY, ForgePlatform
from tests.testing.forge_platform_support import APP_KEY, gateway_get

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
