"""diagnostics.outbound_errors: one explainer per error class and code, chosen from a
table, reading the error's attributes (never its message)."""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect.diagnostics import explain_outbound_error, outbound_errors
from django_atlassian_connect.exceptions import ConnectClientError, ImpersonationError
from django_atlassian_connect.http import ConnectAPIError
from django_atlassian_connect.models import Tenant


def api_error(tenant, status: int, url: str, **context) -> ConnectAPIError:
    response = requests.Response()
    response.status_code = status
    response._content = b'{"message": "nope"}'
    response.request = requests.Request("GET", url).prepare()
    return ConnectAPIError("a message the doctor does not read", response=response, tenant=tenant)


@pytest.mark.parametrize(
    ("error", "explainer"),
    [
        (ImpersonationError("unauthorized_client"), "_grant_not_allowed"),
        (ImpersonationError("invalid_grant"), "_grant_refused"),
        (ConnectClientError("url_not_allowed"), "_url_not_allowed"),
        (ConnectClientError("secret_missing"), "_not_sent"),
        (requests.ConnectTimeout("x"), "_unreachable"),
    ],
)
def test_the_table_picks_one_explainer_by_class_and_code(error, explainer):
    assert outbound_errors.explainer_for(error).__name__ == explainer


def test_an_unknown_error_has_no_explainer():
    assert outbound_errors.explainer_for(ValueError("x")) is None


@pytest.mark.django_db
def test_display_url_read_from_the_error_url_not_its_message(site):
    assert site.install(displayUrl="https://jira.example-custom.com").status_code == 204
    tenant = Tenant.objects.get(client_key=site.client_key)
    error = ConnectClientError(
        "url_not_allowed", "Refused.", url="https://jira.example-custom.com/rest/api/3/myself"
    )
    finding = explain_outbound_error(error, tenant)
    assert (finding.code, finding.cause) == ("display_url_used", "display_url_as_api_base")
    other = ConnectClientError("url_not_allowed", "Refused.", url="https://elsewhere.example/x")
    assert explain_outbound_error(other, tenant).code == "url_not_allowed"


@pytest.mark.django_db
def test_status_path_and_product_message_come_from_attributes(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    error = api_error(tenant, 403, tenant.base_url + "/rest/api/3/permissions")
    assert error.code == "api_forbidden"
    finding = explain_outbound_error(error, tenant)
    assert (finding.code, finding.cause) == ("scope_missing", "ADMIN")
    assert finding.details["status"] == 403 and finding.details["product_says"] == "nope"
    assert finding.message.startswith("GET /rest/api/3/permissions -> 403")
    # The error's own tenant is used when none is given.
    assert explain_outbound_error(error).code == "scope_missing"
    finding = explain_outbound_error(api_error(tenant, 502, tenant.base_url + "/x"), tenant)
    assert (finding.code, finding.details["status"]) == ("product_error", 502)


@pytest.mark.django_db
def test_grant_errors_keep_what_the_server_said(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    error = ImpersonationError.from_oauth_error("weird_error", "Refused.", status=400)
    finding = explain_outbound_error(error, tenant, mode="user")
    assert (finding.code, finding.cause) == ("oauth_error", "oauth_error")
    assert finding.details["oauth_error"] == "weird_error"
    assert finding.hint


# -- which scope a call needs: one rule (descriptor.needed_scope) for the client and the doctor --


@pytest.mark.parametrize(
    ("method", "path", "scopes", "need"),
    [
        ("GET", "/rest/api/3/myself", ["READ"], ("READ", True)),
        ("GET", "/rest/api/3/myself", ["WRITE"], ("READ", True)),
        ("POST", "/rest/api/3/issue", ["READ"], ("WRITE", False)),
        ("POST", "/rest/api/3/issue", ["ADMIN"], ("WRITE", True)),
        ("delete", "/rest/api/3/issue/A-1", ["write"], ("DELETE", False)),
        ("DELETE", "/rest/api/3/issue/A-1", ["PROJECT_ADMIN"], ("DELETE", True)),
        ("GET", "/rest/api/3/permissions", ["READ", "WRITE", "DELETE"], ("ADMIN", False)),
        ("GET", "/rest/api/3/permissions", ["ADMIN"], ("ADMIN", True)),
    ],
)
def test_needed_scope(method, path, scopes, need):
    from django_atlassian_connect.connect.descriptor import needed_scope

    assert tuple(needed_scope(method, path, scopes)) == need


@pytest.mark.django_db
def test_the_client_and_the_doctor_agree_that_write_includes_read(tenant, settings, rsps):
    """Formerly the client's 403 hint said "SCOPES lacks READ" for a GET with WRITE declared."""
    from django_atlassian_connect.connect.client import ConnectClient

    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SCOPES": ["WRITE"]}
    rsps.get(f"{tenant.base_url}/rest/api/3/myself", status=403)
    with pytest.raises(ConnectAPIError) as caught:
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert "SCOPES lacks" not in caught.value.hint
    finding = explain_outbound_error(caught.value, tenant)
    assert (finding.code, finding.cause) == ("scope_missing", "permission_or_not_upgraded")
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SCOPES": ["ADMIN"]}
    rsps.post(f"{tenant.base_url}/rest/api/3/issue", status=403)
    with pytest.raises(ConnectAPIError) as caught:
        ConnectClient(tenant).as_app().post("/rest/api/3/issue", json={})
    assert "SCOPES lacks" not in caught.value.hint
    assert explain_outbound_error(caught.value, tenant).cause == "permission_or_not_upgraded"


def test_a_network_error_is_explained_as_unreachable():
    from django_atlassian_connect.http import network_error

    error = network_error(requests.ConnectTimeout("x"), "GET", "https://acme.atlassian.net/x")
    assert isinstance(error, ConnectClientError) and isinstance(error, requests.ConnectTimeout)
    assert outbound_errors.explainer_for(error).__name__ == "_unreachable"
