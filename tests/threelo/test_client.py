"""OAuthClient (3LO): one base URL, the site's gateway path only; what is missing is named."""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.threelo import linking, tokens
from django_atlassian_connect.threelo.client import OAuthClient
from tests.threelo.gateway_support import MYSELF, myself_tokens

pytestmark = pytest.mark.django_db


# -- the client: one base URL, the gateway only -----------------------------------------------------


def test_the_token_goes_to_the_sites_gateway_url_only(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    session = OAuthClient(grant, linked_user.cloud_id).session()
    other = oauth_server.add_site("Other", "https://other.atlassian.net")
    base = session.base_url
    assert base == f"{oauth_server.api_url}/ex/jira/{linked_user.cloud_id}"
    for url in (
        "https://acme.atlassian.net/rest/api/3/myself",  # the site URL: never
        f"{oauth_server.api_url}/ex/jira/{other.cloud_id}/rest/api/3/myself",
        f"{base}/../{other.cloud_id}/rest/api/3/myself",
        f"{base}/%2e%2e/{other.cloud_id}/rest/api/3/myself",
        f"{oauth_server.api_url}/me",
        oauth_server.auth_url + "/oauth/token",
    ):
        with pytest.raises(ConnectClientError) as info:
            session.get(url)
        assert info.value.code == "url_not_allowed" and info.value.grant == grant, url
        assert "never sent to the site URL" in info.value.hint
    assert myself_tokens(oauth_server) == []
    assert grant.access_token not in repr(session) + repr(OAuthClient(grant, linked_user.cloud_id))
    assert "Authorization" not in session.headers


def test_confluence_goes_through_its_own_gateway_path(oauth_server, django_user_model):
    site = oauth_server.add_site("Wiki", "https://wiki.atlassian.net", products=("confluence",))
    user = django_user_model.objects.create_user(username="cora", password="cora-pw-1")
    grant = linking.link_account(user, oauth_server.issue_code(tokens.callback_url()))
    client = OAuthClient(grant, site.cloud_id, product="confluence")
    assert client.base_url.endswith(f"/ex/confluence/{site.cloud_id}")
    assert client.session().get("/wiki/rest/api/user/current").json()["type"] == "known"
    with pytest.raises(ConnectAPIError) as info:
        client.session().get("/rest/api/user/current")  # /wiki left out
    assert info.value.status_code == 404 and "/wiki" in info.value.hint
    with pytest.raises(ValueError):
        OAuthClient(grant, site.cloud_id, product="bitbucket")


def test_for_user_names_what_is_missing(linked_user, oauth_server, django_user_model):
    stranger = django_user_model.objects.create_user(username="sam", password="sam-pw-1")
    with pytest.raises(ConnectClientError) as none:
        OAuthClient.for_user(stranger, linked_user.cloud_id)
    assert none.value.code == "oauth_not_linked"
    with pytest.raises(ConnectClientError) as elsewhere:
        OAuthClient.for_user(linked_user, "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b")
    assert elsewhere.value.code == "oauth_site_not_linked"
    with pytest.raises(ConnectClientError) as bad:
        OAuthClient(linked_user.oauth_grant, "../../me")
    assert bad.value.code == "oauth_site_not_linked"
    assert OAuthClient.for_user(linked_user, linked_user.cloud_id).grant == linked_user.oauth_grant


def test_a_gateway_that_cannot_be_reached_is_a_requests_error(linked_user, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "API_URL": "http://127.0.0.1:9"}
    client = OAuthClient(linked_user.oauth_grant, linked_user.cloud_id)
    with pytest.raises(requests.ConnectionError):
        client.session().get(MYSELF)


def test_a_redirect_elsewhere_loses_the_token(rsps, settings, django_user_model):
    from django_atlassian_connect.threelo.resources import Site
    from django_atlassian_connect.threelo.tokens import TokenSet

    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_CLIENT_ID": "id",
        "OAUTH_CLIENT_SECRET": "secret",
    }
    cloud_id = "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"
    user = django_user_model.objects.create_user(username="rita", password="rita-pw-1")
    grant = linking.store_grant(
        user,
        TokenSet("access-token-123456", 3600, "refresh-token-123456", "read:jira-user"),
        [Site(cloud_id, "https://acme.atlassian.net", "Acme", ("read:jira-user",))],
    )
    base = f"https://api.atlassian.com/ex/jira/{cloud_id}"
    rsps.get(base + "/rest/api/3/moved", status=302, headers={"Location": "https://evil.example/x"})
    rsps.get(base + "/rest/api/3/here", status=302, headers={"Location": base + "/rest/api/3/x"})
    rsps.get("https://evil.example/x", json={})
    rsps.get(base + "/rest/api/3/x", json={})
    session = OAuthClient(grant, cloud_id).session()
    session.get("/rest/api/3/moved")
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer access-token-123456"
    assert "Authorization" not in rsps.calls[1].request.headers
    session.get("/rest/api/3/here")  # a redirect that stays under the base keeps it
    assert rsps.calls[3].request.headers["Authorization"] == "Bearer access-token-123456"
    assert rsps.calls[0].request.headers["User-Agent"].startswith("django-atlassian-connect/")
