"""ApiTokenClient over real HTTP against the simulated Atlassian.

Classic tokens on the site URL, scoped tokens through the gateway; expired, wrong
and revoked tokens; credentials never sent to another origin; the guide's examples
and the hints naming the API-token causes.
"""

from __future__ import annotations

import pytest

from django_atlassian_connect.credentials import ApiTokenClient
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.testing.credentials import AUTHENTICATE_FIRST, ISSUE_NOT_FOUND
from tests.credentials.support import EMAIL, secrets_absent

# -- API tokens ---------------------------------------------------------------------------------


def test_a_classic_token_calls_the_site_url_with_basic_auth(atlassian):
    token = atlassian.add_api_token(EMAIL)
    client = ApiTokenClient(EMAIL, token, atlassian.site_url)
    assert not client.through_gateway and client.base_url == atlassian.site_url
    me = client.session().get("/rest/api/3/myself").json()
    assert me["accountId"] and me["active"]
    issue = client.session().get("/rest/api/3/issue/DEMO-1").json()
    assert issue["key"] == "DEMO-1"
    assert [c["auth"] for c in atlassian.log] == ["basic", "basic"]
    assert all(c["principal"] == me["accountId"] for c in atlassian.log)
    assert token not in repr(client) and token not in repr(client.session())


def test_a_scoped_token_goes_through_the_gateway(atlassian):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    client = ApiTokenClient(EMAIL, token, atlassian.cloud_id)
    assert client.through_gateway
    assert client.base_url == f"{atlassian.url}/ex/jira/{atlassian.cloud_id}"
    assert client.session().get("/rest/api/3/myself").status_code == 200
    assert atlassian.log[-1]["path"] == f"/ex/jira/{atlassian.cloud_id}/rest/api/3/myself"
    # The whole gateway URL works too, and so does Confluence's path.
    same = ApiTokenClient(EMAIL, token, client.base_url + "/")
    assert same.base_url == client.base_url and same.cloud_id == atlassian.cloud_id
    wiki = ApiTokenClient(EMAIL, token, atlassian.cloud_id, product="confluence")
    assert wiki.session().get("/wiki/rest/api/user/current").json()["type"] == "known"


def test_a_scoped_token_on_the_site_url_runs_as_anonymous(atlassian):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    session = ApiTokenClient(EMAIL, token, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        session.get("/rest/api/3/issue/DEMO-1")
    error = caught.value
    assert error.status == 404 and error.code == "api_not_found"
    assert ISSUE_NOT_FOUND in error.product_message
    assert atlassian.log[-1]["principal"] == "anonymous"
    assert error.credential == "api_token" and error.email == EMAIL
    assert secrets_absent(str(error) + repr(error), token)


def test_a_wrong_pair_runs_as_anonymous_and_an_expired_token_is_a_401(atlassian):
    token = atlassian.add_api_token(EMAIL)
    wrong = ApiTokenClient("bob@example.com", token, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/issue/DEMO-1")
    assert caught.value.status == 404
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/myself")
    assert caught.value.status == 401 and AUTHENTICATE_FIRST in caught.value.product_message
    atlassian.expire_api_token(token)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, token, atlassian.site_url).session().get("/rest/api/3/issue/DEMO-1")
    assert caught.value.status == 401 and caught.value.code == "api_unauthorized"
    assert secrets_absent(str(caught.value) + repr(caught.value), token)


def test_the_gateway_refuses_classic_and_revoked_tokens(atlassian):
    classic = atlassian.add_api_token(EMAIL)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get("/rest/api/3/myself")
    assert caught.value.status == 401
    scoped = atlassian.add_api_token(EMAIL, scoped=True)
    atlassian.revoke_api_token(scoped)
    with pytest.raises(ConnectAPIError):
        ApiTokenClient(EMAIL, scoped, atlassian.cloud_id).session().get("/rest/api/3/myself")


def test_credentials_go_to_the_configured_base_only(atlassian, elsewhere):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    session = ApiTokenClient(EMAIL, token, atlassian.cloud_id).session()
    elsewhere.log.clear()
    for url in (
        f"{elsewhere.url}/rest/api/3/myself",  # another origin
        f"{atlassian.url}/rest/api/3/myself",  # the right host, outside the base path
        f"{atlassian.url}/ex/jira/{atlassian.cloud_id}/../{atlassian.cloud_id}x/rest",
    ):
        with pytest.raises(ConnectClientError) as caught:
            session.get(url)
        assert caught.value.code == "url_not_allowed"
    assert elsewhere.log == [] and atlassian.log == []
    # A redirect to another origin is followed without the credentials.
    target = f"{elsewhere.url}/rest/api/3/myself"
    with pytest.raises(ConnectAPIError):
        session.get("/redirect", params={"to": target})
    assert [(c["path"], c["auth"]) for c in elsewhere.log] == [("/rest/api/3/myself", None)]


def test_retries_honour_retry_after(atlassian):
    token = atlassian.add_api_token(EMAIL)
    atlassian.fail_next(429, retry_after=0)
    atlassian.fail_next(503)
    response = ApiTokenClient(EMAIL, token, atlassian.site_url).session().get("/rest/api/3/myself")
    assert response.status_code == 200 and len(atlassian.log) == 3


@pytest.mark.parametrize(
    "target",
    [
        "http://acme.atlassian.net",  # plain http to a real host
        "https://user:pw@acme.atlassian.net",
        "not-a-cloud-id",
        "acme.atlassian.net",
    ],
)
def test_bad_targets_are_refused_when_the_client_is_made(target):
    with pytest.raises(ValueError):
        ApiTokenClient(EMAIL, "ATATT3xtoken", target)


def test_the_gateway_host_is_not_a_site(atlassian):
    with pytest.raises(ValueError, match="cloudId"):
        ApiTokenClient(EMAIL, "ATATT3xtoken", atlassian.url + "/")
    with pytest.raises(ValueError):
        ApiTokenClient("not-an-email", "ATATT3xtoken", atlassian.cloud_id)
    with pytest.raises(ValueError):
        ApiTokenClient(EMAIL, "ATATT3xtoken", atlassian.cloud_id, product="bitbucket")


def test_api_url_is_read_when_used(settings, atlassian):
    client = ApiTokenClient(EMAIL, "t", atlassian.cloud_id)
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "API_URL": "https://gw.example"}
    assert ApiTokenClient(EMAIL, "t", atlassian.cloud_id).base_url.startswith("https://gw.example")
    assert client.base_url.startswith(atlassian.url)  # bound when it was made


# -- the guide's examples run as written -------------------------------------------------------


@pytest.mark.parametrize("caption", ["API token", "Service account"])
def test_the_guide_examples_run(atlassian, monkeypatch, caption):
    from tests.docs_code import DOCS, code_blocks

    code = code_blocks(DOCS / "guides" / "calling-without-connect.rst")[caption]
    client_id, secret = atlassian.add_service_account()
    for name, value in {
        "JIRA_EMAIL": EMAIL,
        "JIRA_API_TOKEN": atlassian.add_api_token(EMAIL),
        "JIRA_SCOPED_TOKEN": atlassian.add_api_token(EMAIL, scoped=True),
        "JIRA_SITE": atlassian.site_url,
        "JIRA_CLOUD_ID": atlassian.cloud_id,
        "JIRA_SA_CLIENT_ID": client_id,
        "JIRA_SA_SECRET": secret,
    }.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {}
    exec(compile(code, f"calling-without-connect.rst[{caption}]", "exec"), namespace)
    assert namespace["me"]["accountId"]
    assert namespace["issue"]["key"] == "DEMO-1"


# -- hints name the API-token causes ---------------------------------------------------------------


def test_error_hints_name_the_credential_causes(atlassian):
    classic = atlassian.add_api_token(EMAIL)
    wrong = ApiTokenClient("bob@example.com", classic, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/issue/DEMO-1")
    assert "anonymous" in caught.value.hint and "connect_doctor credentials" in caught.value.hint
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get("/rest/api/3/myself")
    assert "classic token" in caught.value.hint
    atlassian.expire_api_token(classic)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.site_url).session().get("/rest/api/3/myself")
    assert "2024-12-15" in caught.value.hint
    response = (
        ApiTokenClient(EMAIL, classic, atlassian.site_url)
        .session(raise_for_status=False)
        .get("/rest/api/3/myself")
    )
    assert response.status_code == 401
    with pytest.raises(ConnectClientError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get(atlassian.site_url)
    assert "scoped API token is never sent to the site URL" in caught.value.hint
