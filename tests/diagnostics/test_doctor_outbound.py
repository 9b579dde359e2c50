"""connect_doctor token --outbound and the explanation of outbound errors."""

from __future__ import annotations

import email.utils
import time

import jwt
import pytest
import requests

from django_atlassian_connect import diagnostics
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.exceptions import ConnectAPIError
from django_atlassian_connect.models import Tenant
from django_atlassian_connect.qsh import canonical_request
from tests.diagnostics.doctor_support import ACCOUNT, APP_KEY, app_token, run_json

# -- token: outbound --------------------------------------------------------------------


@pytest.mark.django_db
def test_healthy_outbound_token(installed_site):
    url = installed_site.base_url + "/rest/api/3/search?jql=a%20b&maxResults=5"
    token = app_token(installed_site.secret, canonical_request("GET", url, installed_site.base_url))
    status, report = run_json("token", f"JWT {token}", "--outbound", "--url", url)
    assert status == 0, report["findings"]
    assert [f["code"] for f in report["findings"]] == [
        "issuer_valid",
        "signature_valid",
        "times_valid",
        "qsh_valid",
    ]
    # Found by the URL's origin, no --client-key needed.
    assert report["facts"]["tenant"]["client_key"] == installed_site.client_key


@pytest.mark.django_db
def test_outbound_issuer_and_tenant_problems(installed_site):
    token = app_token(installed_site.secret, "GET&/x&", iss="my-app")
    status, report = run_json(
        "token", f"JWT {token}", "--outbound", "--client-key", installed_site.base_url
    )
    assert (report["code"], report["cause"]) == ("issuer_mismatch", "iss_not_app_key")
    status, report = run_json("token", token, "--outbound", "--client-key", "jira:nobody")
    assert (report["code"], report["cause"]) == ("tenant_unknown", "no_installation")
    # Nothing names the tenant: said, and the signature is not checked.
    status, report = run_json(
        "token", f"JWT {app_token('other-secret' * 3, 'GET&/x&')}", "--outbound"
    )
    assert status == 0
    assert "tenant_not_identified" in [f["code"] for f in report["findings"]]


@pytest.mark.django_db
def test_outbound_context_qsh_and_unknown_secret(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {"iss": APP_KEY, "iat": now, "exp": now + 60, "qsh": "context-qsh"},
        installed_site.secret,
        algorithm="HS256",
    )
    status, report = run_json(
        "token",
        f"JWT {token}",
        "--outbound",
        "--client-key",
        installed_site.client_key,
        "--url",
        "/rest/api/3/myself",
    )
    assert status == 1
    assert (report["code"], report["cause"]) == ("context_qsh_not_allowed", "context_qsh_outbound")
    token = app_token("a-secret-nobody-has-" * 2, "GET&/rest/api/3/myself&")
    _status, report = run_json(
        "token", f"JWT {token}", "--outbound", "--client-key", installed_site.client_key
    )
    assert (report["code"], report["cause"]) == ("signature_invalid", "unknown_secret")


@pytest.mark.django_db
def test_outbound_url_outside_the_base_url(site):
    site.base_url += "/wiki"
    assert site.install(productType="confluence").status_code == 204
    token = app_token(site.secret, "GET&/rest/api/content&")
    origin = site.base_url.removesuffix("/wiki")
    status, report = run_json(
        "token",
        f"JWT {token}",
        "--outbound",
        "--client-key",
        site.client_key,
        "--url",
        origin + "/rest/api/content",
    )
    assert (report["code"], report["cause"]) == ("url_not_allowed", "wiki_missing")
    _status, report = run_json(
        "token",
        f"JWT {token}",
        "--outbound",
        "--client-key",
        site.client_key,
        "--url",
        "https://elsewhere.example/rest/api/content",
    )
    assert status == 1
    assert (report["code"], report["cause"]) == ("url_not_allowed", "other_origin")


@pytest.mark.django_db
def test_impersonation_assertion(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assertion = impersonation.build_assertion(tenant, ACCOUNT, installed_site.secret)
    status, report = run_json("token", assertion, "--outbound")
    assert status == 0, report["findings"]
    assert report["facts"]["kind"] == "impersonation grant assertion"
    tenant.oauth_client_id = "a-newer-client-id"
    tenant.save()
    status, report = run_json(
        "token", assertion, "--outbound", "--client-key", installed_site.client_key
    )
    assert (report["code"], report["cause"]) == ("issuer_mismatch", "stale_oauth_client_id")
    now = int(time.time())
    old_host = jwt.encode(
        {
            "iss": "urn:atlassian:connect:clientid:a-newer-client-id",
            "sub": f"urn:atlassian:connect:useraccountid:{ACCOUNT}",
            "tnt": tenant.base_url,
            "aud": "https://auth.atlassian.io",
            "iat": now,
            "exp": now + 60,
        },
        installed_site.secret,
        algorithm="HS256",
    )
    status, report = run_json("token", old_host, "--outbound")
    assert (report["code"], report["cause"]) == ("audience_invalid", "retired_authorization_server")


# -- outbound outcomes explained ---------------------------------------------------------------


def _api_error(tenant, status: int, *, date_offset: float = 0, url: str = "") -> ConnectAPIError:
    response = requests.Response()
    response.status_code = status
    response._content = b'{"message": "refused"}'
    response.headers["Date"] = email.utils.formatdate(time.time() + date_offset, usegmt=True)
    response.request = requests.Request(
        "GET", url or tenant.base_url + "/rest/api/3/myself"
    ).prepare()
    return ConnectAPIError("refused", tenant=tenant, response=response)


@pytest.mark.django_db
def test_explain_401_with_clock_skew_and_other_statuses(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    finding = diagnostics.explain_outbound_error(_api_error(tenant, 401, date_offset=-120), tenant)
    assert (finding.code, finding.cause) == ("clock_skew", "server_clock")
    assert -125 <= finding.details["product_clock_skew_s"] <= -115
    finding = diagnostics.explain_outbound_error(_api_error(tenant, 401), tenant)
    assert (finding.code, finding.cause) == ("signature_invalid", "stale_secret")
    finding = diagnostics.explain_outbound_error(_api_error(tenant, 401), tenant, mode="user")
    assert finding.code == "bearer_refused"
    finding = diagnostics.explain_outbound_error(
        _api_error(tenant, 403, url=tenant.base_url + "/rest/api/3/issue/A-1"), tenant
    )
    assert (finding.code, finding.cause) == ("scope_missing", "permission_or_not_upgraded")
    assert diagnostics.explain_outbound_error(_api_error(tenant, 404), tenant).code == "not_found"
    assert (
        diagnostics.explain_outbound_error(_api_error(tenant, 429), tenant).code == "rate_limited"
    )
    assert (
        diagnostics.explain_outbound_error(_api_error(tenant, 500), tenant).code == "product_error"
    )
    finding = diagnostics.explain_outbound_error(requests.ConnectionError("boom"), tenant)
    assert finding.code == "product_unreachable"
