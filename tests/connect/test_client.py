"""ConnectClient unit tests with transport-level mocks (responses)."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.models import Tenant
from django_atlassian_connect.qsh import query_string_hash

pytestmark = pytest.mark.django_db


def sent_claims(call, secret):
    scheme, token = call.request.headers["Authorization"].split(" ", 1)
    assert scheme == "JWT"
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_as_app_signs_each_request_with_app_key_and_qsh(tenant, installed_site, rsps):
    rsps.get(f"{tenant.base_url}/rest/api/3/search", json={})
    session = ConnectClient(tenant).as_app()
    session.get("/rest/api/3/search", params={"jql": "a b", "x": "+"})
    session.get("rest/api/3/search?b=2&a=1")
    first, second = (sent_claims(c, installed_site.secret) for c in rsps.calls)
    assert first["iss"] == "com.example.tests" != installed_site.client_key
    assert first["exp"] - first["iat"] == 180 and abs(first["iat"] - time.time()) < 5
    assert first["qsh"] == query_string_hash("GET", "/rest/api/3/search?jql=a%20b&x=%2B")
    assert second["qsh"] == query_string_hash("GET", "/rest/api/3/search?a=1&b=2")
    assert rsps.calls[0].request.headers["User-Agent"].startswith("django-atlassian-connect/")


def test_confluence_wiki_base_url(installed_site, site_factory, rsps):
    confluence = site_factory()
    confluence.base_url += "/wiki"
    assert confluence.install(productType="confluence").status_code == 204
    tenant = Tenant.objects.get(client_key=confluence.client_key)
    rsps.get(f"{tenant.base_url}/rest/api/content", json={})
    session = ConnectClient(tenant).as_app()
    session.get("/rest/api/content")
    session.get("/wiki/rest/api/content")  # not doubled
    session.get(tenant.base_url + "/rest/api/content")
    qshes = {sent_claims(c, confluence.secret)["qsh"] for c in rsps.calls}
    assert qshes == {query_string_hash("GET", "/rest/api/content")}
    assert all(c.request.url == f"{tenant.base_url}/rest/api/content" for c in rsps.calls)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/rest/api/3/myself",
        "http://{host}/rest/api/3/myself",  # same host, other scheme
        "https://{host}.evil.example.com/rest",
        "https://{host}:8443/rest",
    ],
)
def test_foreign_urls_are_refused_before_sending(tenant, url, rsps):
    host = tenant.base_url.split("://", 1)[1]
    with pytest.raises(ConnectClientError) as excinfo:
        ConnectClient(tenant).as_app().get(url.format(host=host))
    assert excinfo.value.code == "url_not_allowed"
    assert len(rsps.calls) == 0


#: Paths whose text passes a prefix check while the server may read another path
#: (also used by the gateway session's tests).
UNSAFE_PATHS = [
    "/rest/api/3/issue/a%2Fb",
    "/rest/api/3/issue/a%2fb",
    "/rest/api/3/issue/..%2F..%2F..%2Fadmin",
    "/rest/api/3/%2E%2E/admin",
    "/rest/api/3/%2e./admin",
    "/rest/api/3/issue/a%2Eb",
    "rest/api/3/issue/a%2eb",
    "/rest/api/3/../2/myself",
    "/rest/./api/3/myself",
]


@pytest.mark.parametrize("path", [*UNSAFE_PATHS, "{base}/rest/api/3/issue/a%2Fb"])
def test_encoded_separators_and_dot_segments_are_refused_before_sending(tenant, path, rsps):
    with pytest.raises(ConnectClientError) as info:
        ConnectClient(tenant).as_app().get(path.format(base=tenant.base_url))
    error = info.value
    assert error.code == "url_not_allowed" and error.method == "GET" and error.tenant == tenant
    assert "%2F" in error.hint and "query" in error.hint
    assert len(rsps.calls) == 0


def test_encoded_characters_in_the_query_are_sent(tenant, rsps):
    rsps.get(f"{tenant.base_url}/rest/api/3/search", json={})
    ConnectClient(tenant).as_app().get("/rest/api/3/search?jql=summary%20~%20%22a%2Fb%2E%22")
    assert rsps.calls[0].request.url.endswith("?jql=summary%20~%20%22a%2Fb.%22")


def test_confluence_session_refuses_paths_outside_wiki(site_factory, rsps):
    confluence = site_factory()
    confluence.base_url += "/wiki"
    assert confluence.install().status_code == 204
    tenant = Tenant.objects.get(client_key=confluence.client_key)
    origin = tenant.base_url.rsplit("/wiki", 1)[0]
    with pytest.raises(ConnectClientError):
        ConnectClient(tenant).as_app().get(origin + "/rest/api/3/myself")
    assert len(rsps.calls) == 0


def test_redirect_to_another_origin_drops_credentials(tenant, rsps):
    rsps.get(
        f"{tenant.base_url}/go", status=302, headers={"Location": "https://elsewhere.example.com/x"}
    )
    rsps.get("https://elsewhere.example.com/x", json={"ok": True})
    ConnectClient(tenant).as_app().get("/go")
    assert "Authorization" in rsps.calls[0].request.headers
    assert "Authorization" not in rsps.calls[1].request.headers


def test_redirect_within_the_site_is_signed_for_the_new_url(tenant, installed_site, rsps):
    rsps.get(
        f"{tenant.base_url}/old", status=301, headers={"Location": f"{tenant.base_url}/new?a=1"}
    )
    rsps.get(f"{tenant.base_url}/new", json={})
    ConnectClient(tenant).as_app().get("/old")
    assert sent_claims(rsps.calls[1], installed_site.secret)["qsh"] == query_string_hash(
        "GET", "/new?a=1"
    )


def test_401_hint_names_secret_clock_and_qsh_but_no_secret(tenant, installed_site, rsps):
    rsps.get(f"{tenant.base_url}/rest/api/3/myself", status=401, json={"message": "Unauthorized"})
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    error = excinfo.value
    assert isinstance(error, requests.HTTPError) and error.response.status_code == 401
    assert error.tenant == tenant and error.request.url.endswith("/rest/api/3/myself")
    text = str(error)
    assert (
        tenant.current_secret.fingerprint in text
        and "clock" in text
        and "GET&/rest/api/3/myself&" in text
    )
    assert installed_site.secret not in text
    assert error.request.headers["Authorization"].split(" ", 1)[1] not in text


def test_403_hint_names_the_missing_scope(tenant, settings, rsps):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SCOPES": ["READ"]}
    rsps.delete(f"{tenant.base_url}/rest/api/3/issue/DEMO-1", status=403)
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().delete("/rest/api/3/issue/DEMO-1")
    assert "SCOPES lacks DELETE" in excinfo.value.hint and "upgraded" in excinfo.value.hint


def test_403_hint_on_an_admin_path_names_admin_as_the_doctor_does(tenant, settings, rsps):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SCOPES": ["READ", "WRITE"]}
    rsps.get(f"{tenant.base_url}/rest/api/3/configuration", status=403)
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().get("/rest/api/3/configuration")
    assert "SCOPES lacks ADMIN, which GET needs" in excinfo.value.hint
    # WRITE includes READ: a plain GET that is refused names no missing scope.
    rsps.get(f"{tenant.base_url}/rest/api/3/myself", status=403)
    with pytest.raises(ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert "SCOPES lacks" not in excinfo.value.hint


def test_raise_for_status_can_be_turned_off(tenant, rsps):
    rsps.get(f"{tenant.base_url}/missing", status=404)
    assert ConnectClient(tenant).as_app(raise_for_status=False).get("/missing").status_code == 404


def test_uninstalled_tenant_is_refused(tenant):
    tenant.is_installed = False
    with pytest.raises(ConnectClientError) as excinfo:
        ConnectClient(tenant).as_app()
    assert excinfo.value.code == "tenant_not_installed"


def test_rotated_secret_signs_from_the_next_request_on(tenant, installed_site, rsps):
    rsps.get(f"{tenant.base_url}/x", json={})
    session = ConnectClient(tenant).as_app()
    old_secret = installed_site.secret
    session.get("/x")
    assert installed_site.install(secret="rotated-" + "k" * 40).status_code == 204
    session.get("/x")
    assert sent_claims(rsps.calls[0], old_secret)["iss"] == "com.example.tests"
    with pytest.raises(jwt.InvalidSignatureError):
        sent_claims(rsps.calls[1], old_secret)
    assert sent_claims(rsps.calls[1], "rotated-" + "k" * 40)["iss"] == "com.example.tests"


def test_a_url_with_user_info_is_refused_before_sending(tenant, rsps):
    # The stricter rule of the bound session: the Connect session sent this URL.
    host = tenant.base_url.split("://", 1)[1]
    url = f"https://user:pw@{host}/rest/api/3/myself"
    rsps.get(url, json={})
    with pytest.raises(ConnectClientError) as excinfo:
        ConnectClient(tenant).as_app().get(url)
    assert excinfo.value.code == "url_not_allowed" and excinfo.value.tenant == tenant
    assert len(rsps.calls) == 0
