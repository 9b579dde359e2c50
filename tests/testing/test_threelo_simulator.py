"""The simulated authorization server keeps Atlassian's rules, so the client's tests mean
something: single-use codes, rotation with a 10-minute reuse window, family revocation,
expiry on its clock, JSON bodies only, and a gateway that takes only its own tokens."""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect.testing.oauth import REUSE_WINDOW, OAuthServer

REDIRECT = "https://app.example.com/oauth/callback"


@pytest.fixture
def atlassian():
    with OAuthServer() as server:
        server.add_account("Alana Grant", "alana@example.com")
        server.add_site("Acme", "https://acme.atlassian.net")
        yield server


def token(server, **body):
    base = {"client_id": server.client_id, "client_secret": server.client_secret}
    return requests.post(server.auth_url + "/oauth/token", json={**base, **body}, timeout=10)


def exchange(server):
    code = server.issue_code(REDIRECT)
    answer = token(server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert answer.status_code == 200, answer.text
    return code, answer.json()


def refresh(server, refresh_token):
    return token(server, grant_type="refresh_token", refresh_token=refresh_token)


def myself(server, access_token):
    cloud_id = next(iter(server.state.sites))
    return requests.get(
        f"{server.api_url}/ex/jira/{cloud_id}/rest/api/3/myself",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def test_authorize_checks_parameters_and_passes_the_state_back(atlassian):
    query = (
        f"audience=api.atlassian.com&client_id={atlassian.client_id}&scope=read%3Ame%20offline_access"
        f"&redirect_uri={REDIRECT}&state=s1&response_type=code&prompt=consent"
    )
    location = atlassian.consent_redirect(f"{atlassian.auth_url}/authorize?{query}")
    back = atlassian.query_of(location)
    assert location.startswith(REDIRECT + "?") and back["state"] == "s1" and back["code"]
    wrong = requests.get(
        f"{atlassian.auth_url}/authorize?{query.replace('api.atlassian.com', 'x')}", timeout=10
    )
    assert wrong.status_code == 400 and "audience" in wrong.text
    atlassian.deny_next()
    denied = atlassian.query_of(
        atlassian.consent_redirect(f"{atlassian.auth_url}/authorize?{query}")
    )
    assert denied["error"] == "access_denied" and denied["state"] == "s1" and "code" not in denied


def test_the_consent_page_for_people(atlassian):
    atlassian.consent.auto = False
    query = (
        f"audience=api.atlassian.com&client_id={atlassian.client_id}&scope=read%3Ame"
        f"&redirect_uri={REDIRECT}&state=s2&response_type=code&prompt=consent"
    )
    page = requests.get(f"{atlassian.auth_url}/authorize?{query}", timeout=10)
    assert page.status_code == 200 and 'id="accept"' in page.text and "Alana Grant" in page.text
    form = dict(atlassian.query_of("?" + query), decision="accept")
    answer = requests.post(
        f"{atlassian.auth_url}/authorize", data=form, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302 and "code=" in answer.headers["Location"]


def test_codes_are_single_use_and_bound_to_the_redirect_uri(atlassian):
    code, first = exchange(atlassian)
    assert (
        first["refresh_token"] and first["expires_in"] == 3600 and first["token_type"] == "Bearer"
    )
    again = token(atlassian, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    other = atlassian.issue_code(REDIRECT)
    elsewhere = token(
        atlassian, grant_type="authorization_code", code=other, redirect_uri="https://x/cb"
    )
    assert elsewhere.json()["error"] == "invalid_grant"


def test_json_bodies_only_and_the_client_is_checked(atlassian):
    form = requests.post(
        atlassian.auth_url + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        timeout=10,
    )
    assert form.status_code == 400 and form.json()["error"] == "invalid_request"
    bad = requests.post(
        atlassian.auth_url + "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "client_id": atlassian.client_id,
            "client_secret": "no",
        },
        timeout=10,
    )
    assert bad.status_code == 401


def test_rotation_reuse_within_the_window_gets_a_new_pair(atlassian):
    _, first = exchange(atlassian)
    second = refresh(atlassian, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    atlassian.advance(REUSE_WINDOW - 5)
    third = refresh(atlassian, first["refresh_token"])  # the previous one, within 10 minutes
    assert third.status_code == 200 and third.json()["refresh_token"] not in (
        first["refresh_token"],
        second["refresh_token"],
    )
    assert atlassian.counters["reused_in_window"] == 1
    assert myself(atlassian, third.json()["access_token"]).status_code == 200


def test_rotation_reuse_after_the_window_revokes_the_whole_family(atlassian):
    _, first = exchange(atlassian)
    second = refresh(atlassian, first["refresh_token"]).json()
    atlassian.advance(REUSE_WINDOW + 1)
    late = refresh(atlassian, first["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert atlassian.counters["reused_after_window"] == 1
    assert refresh(atlassian, second["refresh_token"]).json()["error"] == "invalid_grant"
    gone = myself(atlassian, second["access_token"])
    assert gone.status_code == 401 and "revoked" in gone.json()["detail"]


def test_access_tokens_expire_on_the_servers_clock(atlassian):
    _, first = exchange(atlassian)
    assert myself(atlassian, first["access_token"]).json()["displayName"] == "Alana Grant"
    atlassian.advance(3600)
    expired = myself(atlassian, first["access_token"])
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert myself(atlassian, "never-issued").status_code == 401
    atlassian.advance(90 * 24 * 3600)
    assert refresh(atlassian, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_accessible_resources_and_me(atlassian):
    _, first = exchange(atlassian)
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    sites = requests.get(
        atlassian.api_url + "/oauth/token/accessible-resources", headers=headers, timeout=10
    ).json()
    site = next(iter(atlassian.state.sites.values()))
    assert [(s["id"], s["url"], s["name"]) for s in sites] == [(site.cloud_id, site.url, site.name)]
    me = requests.get(atlassian.api_url + "/me", headers=headers, timeout=10).json()
    assert me["name"] == "Alana Grant" and me["account_id"]
    elsewhere = requests.get(
        f"{atlassian.api_url}/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b/rest/api/3/myself",
        headers=headers,
        timeout=10,
    )
    assert elsewhere.status_code == 401
    assert atlassian.api.calls("/myself")[0]["token"] != first["access_token"]  # a fingerprint
