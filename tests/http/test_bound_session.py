"""The bound session's contract, once for every credential this package sends.

Connect app JWT, Connect user token, Forge token, 3LO access token, API token
and service-account token are all sent by one ``BoundSession``: the same URL
rules, redirects, errors and hints. Each case below builds that credential's
session against a mocked product and checks the same promises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from django.utils import timezone

from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.connect.client import ConnectClient, ConnectSession
from django_atlassian_connect.credentials.api_token import ApiTokenClient
from django_atlassian_connect.credentials.service_account import ServiceAccountClient
from django_atlassian_connect.exceptions import (
    ConnectAPIError,
    ConnectClientError,
    RateLimitBackoffError,
)
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.installations import CLIENT_KEY_PROPERTY, connect_client_key
from django_atlassian_connect.forge.sessions import ForgeSession
from django_atlassian_connect.http import ratelimit
from django_atlassian_connect.http.bound import BoundSession
from django_atlassian_connect.http.errors import product_says
from django_atlassian_connect.models import ForgeInstallation, Tenant
from django_atlassian_connect.threelo.sessions import OAuthSession

pytestmark = pytest.mark.django_db

CLOUD_ID = "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"
GATEWAY = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"


@dataclass
class Bound:
    """One credential's session, and what it must put on a request and an error."""

    session: BoundSession
    scheme: str  # the Authorization scheme it sends
    context: dict[str, Any]  # attributes every error carries


def connect_app(tenant: Tenant, monkeypatch: Any) -> Bound:
    return Bound(ConnectClient(tenant).as_app(), "JWT", {"tenant": tenant})


def connect_user(tenant: Tenant, monkeypatch: Any) -> Bound:
    monkeypatch.setattr(impersonation, "get_access_token", lambda *args, **kwargs: "user-token")
    return Bound(ConnectClient(tenant).as_user("5b10ac8d82e05b22cc7d4ef5"), "Bearer", {})


def forge(tenant: Tenant, monkeypatch: Any) -> Bound:
    installation = SimpleNamespace(installation_id="inst-1", tenant_id=None, first_seen_at=None)
    session = ForgeSession(
        installation, GATEWAY, lambda method, url: ("forge-token", 4e9, "stored app system token")
    )
    return Bound(session, "Bearer", {"installation": installation})


def threelo(tenant: Tenant, monkeypatch: Any) -> Bound:
    session = OAuthSession(
        GATEWAY, lambda: "Bearer 3lo-token", who="the OAuth 2.0 token of ada", context={"n": 1}
    )
    return Bound(session, "Bearer", {"n": 1})


def api_token(tenant: Tenant, monkeypatch: Any) -> Bound:
    client = ApiTokenClient("ada@example.com", "api-token", CLOUD_ID)
    return Bound(client.session(), "Basic", {"email": "ada@example.com"})


def service_account(tenant: Tenant, monkeypatch: Any) -> Bound:
    monkeypatch.setattr(ServiceAccountClient, "access_token", lambda self: "sa-token")
    client = ServiceAccountClient("sa-client", "sa-secret", CLOUD_ID)
    return Bound(client.session(), "Bearer", {"client_id": "sa-client"})


KINDS: list[Callable[[Tenant, Any], Bound]] = [
    connect_app,
    connect_user,
    forge,
    threelo,
    api_token,
    service_account,
]
GATEWAY_KINDS = KINDS[2:]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.__name__)
def bound(request, installed_site, monkeypatch) -> Bound:
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    return request.param(tenant, monkeypatch)


@pytest.fixture(params=GATEWAY_KINDS, ids=lambda kind: kind.__name__)
def gateway_bound(request, installed_site, monkeypatch) -> Bound:
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    return request.param(tenant, monkeypatch)


def test_every_credential_is_sent_by_the_one_bound_session(bound):
    assert isinstance(bound.session, BoundSession)
    assert issubclass(ConnectSession, BoundSession)


def test_relative_paths_resolve_and_each_request_is_authorized(bound, rsps):
    base = bound.session.base_url
    rsps.get(base + "/rest/api/3/myself", json={})
    bound.session.get("/rest/api/3/myself")
    bound.session.get("rest/api/3/myself")
    assert [c.request.url for c in rsps.calls] == [base + "/rest/api/3/myself"] * 2
    for call in rsps.calls:
        assert call.request.headers["Authorization"].split(" ")[0] == bound.scheme
    assert "Authorization" not in bound.session.headers


def test_the_base_path_given_again_is_not_doubled(gateway_bound, rsps):
    # Drift D1: the gateway session doubled a path equal to its base path.
    session = gateway_bound.session
    rsps.get(GATEWAY, json={})
    rsps.get(GATEWAY + "/rest/api/3/myself", json={})
    session.get(f"/ex/jira/{CLOUD_ID}")
    session.get(f"/ex/jira/{CLOUD_ID}/rest/api/3/myself")
    assert [c.request.url for c in rsps.calls] == [GATEWAY, GATEWAY + "/rest/api/3/myself"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/rest/api/3/myself",
        "{scheme}://user:pw@{host}{path}/rest/api/3/myself",  # user info: the stricter rule
        "{scheme}://{host}:8443{path}/rest",
        "/rest/api/3/../../admin",
        "/rest/api/3/issue/a%2Fb",
    ],
)
def test_urls_outside_the_base_are_refused_before_sending(bound, url, rsps):
    base = requests.utils.urlparse(bound.session.base_url)
    target = url.format(scheme=base.scheme, host=base.netloc, path=base.path)
    rsps.get(target, json={})
    with pytest.raises(ConnectClientError) as info:
        bound.session.get(target)
    error = info.value
    assert error.code == "url_not_allowed" and error.method == "GET"
    assert "nothing was sent" in error.detail
    for name, value in bound.context.items():
        assert getattr(error, name) == value
    assert len(rsps.calls) == 0


def test_redirects_keep_the_credential_under_the_base_only(bound, rsps):
    base = bound.session.base_url
    rsps.get(base + "/old", status=301, headers={"Location": base + "/new"})
    rsps.get(base + "/new", status=302, headers={"Location": "https://elsewhere.example.com/x"})
    rsps.get("https://elsewhere.example.com/x", json={})
    bound.session.get("/old")
    sent = ["Authorization" in c.request.headers for c in rsps.calls]
    assert sent == [True, True, False]


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_error_statuses_raise_with_context_and_end_with_what_the_product_says(bound, status, rsps):
    rsps.get(bound.session.base_url + "/x", status=status, json={"message": "Boom said Jira"})
    with pytest.raises(ConnectAPIError) as info:
        bound.session.get("/x")
    error = info.value
    assert error.status_code == status and error.product_message == "Boom said Jira"
    # Drift D10: one "The product says" rule; the gateway gave the bare message for a 500.
    assert error.hint.endswith("The product says: Boom said Jira"), error.hint
    for name, value in bound.context.items():
        assert getattr(error, name) == value


def test_a_404_hint_names_the_base_url_the_same_way(bound, rsps):
    # Drift D1/D10: Connect and the gateway wrote two different 404 hints.
    base = bound.session.base_url
    rsps.get(base + "/x", status=404)
    with pytest.raises(ConnectAPIError) as info:
        bound.session.get("/x")
    hint = info.value.hint
    assert hint.startswith("Not found: the path is relative to ") and base in hint


def test_a_429_hint_says_when_to_retry(bound, rsps):
    rsps.get(bound.session.base_url + "/x", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ConnectAPIError) as info:
        bound.session.get("/x")
    assert "3600" in info.value.hint


def test_raise_for_status_off_answers_the_response(bound, rsps):
    bound.session.raise_for_status = False
    rsps.get(bound.session.base_url + "/x", status=404)
    assert bound.session.get("/x").status_code == 404


def test_product_says_is_empty_for_a_body_that_says_nothing(rsps):
    rsps.get("https://example.com/x", status=500, body="<html>oops</html>")
    assert product_says(requests.get("https://example.com/x", timeout=5)) == ""


# -- D5: the clientKey property goes through the Forge session -------------------------------------------


def client_key_property_url(row):
    return (
        f"{row.api_base_url}/rest/atlassian-connect/1/addons/com.example.tests/properties/"
        f"{CLIENT_KEY_PROPERTY}"
    )


def test_the_client_key_property_call_sends_the_stored_token_to_the_gateway(forge_row, rsps):
    rsps.get(client_key_property_url(forge_row), json={"value": "jira:client-key"})
    assert connect_client_key(forge_row) == "jira:client-key"
    (call,) = rsps.calls
    assert call.request.headers["Authorization"] == "Bearer stored-system-token"
    assert call.request.headers["Accept"] == "application/json"


def test_the_client_key_property_call_counts_against_the_rate_limits(forge_row, rsps):
    # Drift D5: it was sent by a bare session, so a 429 started no backoff.
    rsps.get(client_key_property_url(forge_row), status=429, headers={"Retry-After": "600"})
    with pytest.raises(ConnectAPIError) as info:
        connect_client_key(forge_row)
    assert info.value.status_code == 429 and info.value.installation == forge_row
    assert "600" in info.value.hint
    assert ratelimit.get_backoff(f"forge:{forge_row.installation_id}") is not None
    with pytest.raises(RateLimitBackoffError):
        connect_client_key(forge_row)  # nothing sent during the backoff
    assert len(rsps.calls) == 1


def test_the_client_key_property_call_refuses_a_host_as_every_forge_call_does(
    forge_row, rsps, settings
):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_API_HOSTS": ["x.test"]}
    with pytest.raises(ConnectClientError) as forge_call:
        ForgeClient(forge_row).as_app()
    with pytest.raises(ConnectClientError) as property_call:
        connect_client_key(forge_row)
    # Drift D5: one FORGE_API_HOSTS rule, one message and hint (it had its own copy).
    assert property_call.value.code == forge_call.value.code == "url_not_allowed"
    assert property_call.value.detail == forge_call.value.detail
    assert property_call.value.hint == forge_call.value.hint
    assert property_call.value.installation == forge_row and len(rsps.calls) == 0


@pytest.fixture
def forge_row():
    """An installation on the real gateway host with a stored system token."""
    return ForgeInstallation.objects.create(
        installation_id="ari:cloud:ecosystem::installation/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        product="jira",
        cloud_id=CLOUD_ID,
        api_base_url=GATEWAY,
        first_seen_at=timezone.now() - timedelta(days=3),
        system_token="stored-system-token",
        system_token_expires_at=timezone.now() + timedelta(hours=2),
    )
