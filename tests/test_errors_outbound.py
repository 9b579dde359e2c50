"""The error model on real outbound calls: the product's answers and the token endpoint's."""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect import exceptions
from django_atlassian_connect.codes import CODES
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectClientError, ConnectError, ImpersonationError
from tests.conftest import ACCOUNT

TOKEN_URL = "http://127.0.0.1:9/oauth/oauth2/token"  # AUTHORIZATION_SERVER_URL in tests.settings


# -- outbound errors from real calls -----------------------------------------------------------


@pytest.mark.django_db
def test_product_401_is_a_connect_api_error_with_its_context(tenant, rsps):
    url = f"{tenant.base_url}/rest/api/3/myself"
    rsps.get(url, status=401, json={"message": "Client must be authenticated"})
    with pytest.raises(requests.HTTPError) as excinfo:  # what users write
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    error = excinfo.value
    assert isinstance(error, exceptions.ConnectAPIError)
    assert isinstance(error, ConnectClientError) and isinstance(error, ConnectError)
    assert (error.code, error.method, error.url, error.status, error.status_code) == (
        "api_unauthorized",
        "GET",
        url,
        401,
        401,
    )
    assert error.response is excinfo.value.response and error.response.status_code == 401
    assert error.request is error.response.request
    assert error.tenant == tenant
    assert error.product_message == "Client must be authenticated"
    assert error.detail == f"GET {url} -> 401 Unauthorized."
    assert "stale" in error.hint and str(error) == f"{error.detail} {error.hint}"
    assert error.context["product_message"] == error.product_message
    assert "Authorization" not in repr(error)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code", "body"),
    [(404, "api_not_found", "Not here"), (429, "api_rate_limited", ""), (500, "api_error", "")],
)
def test_product_error_codes_follow_the_status(tenant, rsps, settings, status, code, body):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 0}
    rsps.post(f"{tenant.base_url}/x", status=status, body=body)
    with pytest.raises(exceptions.ConnectAPIError) as excinfo:
        ConnectClient(tenant).as_app().post("/x", json={})
    error = excinfo.value
    assert (error.code, error.status, error.status_code, error.method) == (
        code,
        status,
        status,
        "POST",
    )
    assert error.product_message == body


@pytest.mark.django_db
def test_url_not_allowed_carries_method_url_and_tenant(tenant, rsps):
    with pytest.raises(ConnectClientError) as excinfo:
        ConnectClient(tenant).as_app().delete("https://evil.example.com/x")
    error = excinfo.value
    assert (error.code, error.method, error.url, error.tenant) == (
        "url_not_allowed",
        "DELETE",
        "https://evil.example.com/x",
        tenant,
    )
    assert error.status is None and error.response is None and len(rsps.calls) == 0


@pytest.mark.django_db
def test_unknown_oauth_error_is_oauth_error_with_the_raw_string(tenant, rsps):
    rsps.post(TOKEN_URL, status=400, json={"error": "consent_required", "error_description": "ask"})
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT, ["read"])
    error = excinfo.value
    assert (error.code, error.oauth_error, error.oauth_error_description) == (
        "oauth_error",
        "consent_required",
        "ask",
    )
    assert (error.method, error.url, error.status, error.tenant) == ("POST", TOKEN_URL, 400, tenant)
    assert error.response.status_code == 400
    assert (error.account_id, error.scopes) == (ACCOUNT, "READ")
    assert "consent_required" in error.detail and error.hint == CODES["oauth_error"].hint


@pytest.mark.django_db
def test_known_oauth_error_is_its_own_code(tenant, rsps):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert (excinfo.value.code, excinfo.value.oauth_error) == ("invalid_client", "invalid_client")


@pytest.mark.django_db
def test_network_failure_keeps_its_cause(tenant, rsps):
    rsps.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    error = excinfo.value
    assert error.code == "authorization_server_unavailable"
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert (error.method, error.url, error.status, error.response) == (
        "POST",
        TOKEN_URL,
        None,
        None,
    )


@pytest.mark.django_db
def test_missing_secret_is_a_client_error_with_the_tenant(tenant, rsps):
    tenant.shared_secrets.all().delete()
    with pytest.raises(ConnectClientError) as excinfo:
        ConnectClient(tenant).as_app().get("/x")
    assert (excinfo.value.code, excinfo.value.tenant) == ("secret_missing", tenant)
    assert len(rsps.calls) == 0
