"""Outbound calls against the simulated site, whose verifier is strict.

The site installs the app through a live server (signed install), then checks
every JWT we send: signature with the current secret, iss = app key, qsh
recomputed from the request as it arrived, expiry; and bearer tokens it issued.
"""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect import maintenance
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectAPIError, ImpersonationError
from django_atlassian_connect.models import AccessToken, Tenant
from django_atlassian_connect.testing.host import ConnectHost
from tests.conftest import install_into_live_server

pytestmark = pytest.mark.django_db(transaction=True)

USER = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture
def confluence(settings, live_server):
    with ConnectHost(product="confluence") as host:
        host.tenant = install_into_live_server(settings, live_server, host)
        yield host


QUERIES = [
    {},
    {"jql": 'project = DEMO AND summary ~ "a b"'},
    {"q": "1+1", "star": "*", "tilde": "~user", "empty": ""},
    {"name": "宮崎 駿", "emoji": "✓"},
    [("repeated", "b"), ("repeated", "a"), ("repeated", "A"), ("zz", "1"), ("aa", "2")],
    {"path": "/a/b?c=d&e=f", "percent": "100%"},
]


@pytest.mark.parametrize("params", QUERIES)
def test_every_query_is_accepted_by_the_strict_verifier(jira, params):
    response = ConnectClient(jira.tenant).as_app().get("/rest/api/3/search", params=params)
    assert response.status_code == 200, response.text
    expected = sorted(params.items()) if isinstance(params, dict) else sorted(params)
    assert sorted(map(tuple, response.json()["echo"])) == expected


def test_query_written_into_the_url(jira):
    response = (
        ConnectClient(jira.tenant).as_app().get("/rest/api/3/search?jql=a%20b&x=%2B&y=+&z=%7E")
    )
    assert response.status_code == 200, response.text


def test_as_app_myself_and_issue(jira):
    session = ConnectClient(jira.tenant).as_app()
    assert session.get("/rest/api/3/myself").json()["accountType"] == "app"
    assert session.get("/rest/api/3/issue/DEMO-1").json()["key"] == "DEMO-1"
    assert session.get(jira.base_url + "/rest/api/3/project/recent").json()[0]["key"] == "DEMO"


def test_confluence_paths_strip_wiki_from_the_qsh(confluence):
    assert confluence.tenant.base_url.endswith("/wiki")
    session = ConnectClient(confluence.tenant).as_app()
    assert session.get("/rest/api/user/current").json()["type"] == "app"
    # The same resource named with /wiki, and a query.
    assert (
        session.get("/wiki/rest/api/content", params={"title": "a b", "spaceKey": "DS"}).status_code
        == 200
    )
    assert session.get(confluence.base_url + "/rest/api/content").status_code == 200


def test_confluence_as_user(confluence):
    me = ConnectClient(confluence.tenant).as_user(USER).get("/rest/api/user/current").json()
    assert me["accountId"] == USER


def test_as_user_uses_one_grant_per_token_life(jira):
    session = ConnectClient(jira.tenant).as_user(USER, scopes=["read"])
    assert session.get("/rest/api/3/myself").json()["accountId"] == USER
    assert session.get("/rest/api/3/project/recent").status_code == 200
    other_session = ConnectClient(jira.tenant).as_user(USER, scopes="READ")
    assert other_session.get("/rest/api/3/myself").status_code == 200
    assert jira.grants == 1
    token = AccessToken.objects.get()
    assert token.scopes == "READ" and token.token not in repr(token) + str(token)


def test_missing_act_as_user_is_unauthorized_client(settings, live_server):
    with ConnectHost(app_scopes=["READ"]) as host:
        tenant = install_into_live_server(settings, live_server, host)
        with pytest.raises(ImpersonationError) as excinfo:
            ConnectClient(tenant).as_user(USER).get("/rest/api/3/myself")
    assert excinfo.value.code == "unauthorized_client"
    assert "ACT_AS_USER missing from the descriptor scopes" in str(excinfo.value)


def test_missing_admin_scope_is_403_with_hint(jira):
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(jira.tenant).as_app().get("/rest/api/3/permissions")
    error = excinfo.value
    assert error.status_code == 403 and isinstance(error, requests.HTTPError)
    assert "ADMIN" in error.hint and "lack ADMIN" in error.hint


def test_stale_secret_401_names_the_secret_we_used(jira):
    # The site rotated its secret but our 'installed' callback was lost.
    jira.secrets[-1].retired_at = 1.0
    jira.secrets.append(type(jira.secrets[-1])("ATCO-rotated-without-telling-us-" + "r" * 16, 2.0))
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(jira.tenant).as_app().get("/rest/api/3/myself")
    error = excinfo.value
    fingerprint = jira.tenant.current_secret.fingerprint
    assert error.status_code == 401
    assert fingerprint in error.hint and "stale" in error.hint
    assert "previous shared secret" in error.hint  # what the site said
    assert jira.secrets[0].secret not in str(error)
    # verify_installations finds it before users do.
    assert maintenance.verify_installations() == {
        "ok": 0,
        "unauthorized": 1,
        "forbidden": 0,
        "error": 0,
    }
    assert Tenant.objects.get(pk=jira.tenant.pk).verification_status == "unauthorized"


def test_rotation_by_reinstall_keeps_calls_working(jira):
    jira.install(rotate_secret=True)
    tenant = Tenant.objects.get(pk=jira.tenant.pk)
    assert tenant.shared_secrets.count() == 2
    assert ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code == 200
    assert maintenance.verify_installations()["ok"] == 1


def test_429_retry_after_is_honoured(jira):
    jira.rate_limit = [1]
    response = ConnectClient(jira.tenant).as_app().get("/rest/api/3/myself")
    assert response.status_code == 200
    assert [e["status"] for e in jira.log if e.get("path") == "/rest/api/3/myself"] == [429, 200]


def test_long_retry_after_fails_fast(jira, settings):
    jira.rate_limit = [3600]
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(jira.tenant).as_app().get("/rest/api/3/myself")
    assert excinfo.value.status_code == 429 and "3600" in excinfo.value.hint


def test_token_endpoint_failure_is_retried(jira):
    jira.fail_token_endpoint = [503]
    assert ConnectClient(jira.tenant).as_user(USER).get("/rest/api/3/myself").status_code == 200
    assert jira.grants == 2


def test_unknown_user_is_invalid_grant(jira):
    with pytest.raises(ImpersonationError) as excinfo:
        ConnectClient(jira.tenant).as_user("no-such-user").get("/rest/api/3/myself")
    assert excinfo.value.code == "invalid_grant" and "accountId" in excinfo.value.hint


def test_revoked_bearer_token_is_dropped_and_regranted(jira):
    session = ConnectClient(jira.tenant).as_user(USER)
    assert session.get("/rest/api/3/myself").status_code == 200
    jira.issued.clear()  # the site forgets every token
    with pytest.raises(ConnectAPIError) as excinfo:
        session.get("/rest/api/3/myself")
    assert "dropped from the cache" in excinfo.value.hint
    assert session.get("/rest/api/3/myself").status_code == 200
    assert jira.grants == 2
