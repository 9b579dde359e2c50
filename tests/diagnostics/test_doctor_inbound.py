"""connect_doctor token: inbound tokens (requests, context tokens, signed installs)."""

from __future__ import annotations

import time

import jwt
import pytest

from django_atlassian_connect.models import SharedSecret
from django_atlassian_connect.qsh import hash_canonical_request
from tests.diagnostics.doctor_support import run, run_json

# -- token: inbound ------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthy_inbound_token_exits_zero(installed_site):
    token = installed_site.page_token("/page?a=1")
    status, report = run_json("token", token, "--url", "https://app.example.com/page?a=1")
    assert status == 0 and report["healthy"] and report["code"] is None
    codes = [f["code"] for f in report["findings"]]
    assert codes == ["signature_valid", "times_valid", "qsh_valid"]
    current = SharedSecret.objects.get()
    assert report["findings"][0]["details"]["secret"] == current.fingerprint
    assert report["facts"]["canonical_request"] == "GET&/page&a=1"
    assert report["facts"]["tenant"]["client_key"] == installed_site.client_key
    assert report["facts"]["endpoint"] == "page: request tokens"


@pytest.mark.django_db
def test_human_output_names_cause_canonical_request_and_no_secret(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": installed_site.client_key,
            "iat": now,
            "exp": now + 60,
            "qsh": hash_canonical_request("GET&/page&q=a+b"),
        },
        installed_site.secret,
        algorithm="HS256",
    )
    status, text = run("token", token, "--url", "/page?q=a%20b")
    assert status == 1
    assert "ERROR qsh_mismatch [plus_for_space]" in text
    assert "canonical request: GET&/page&q=a%20b" in text
    assert "signer canonical request: GET&/page&q=a+b" in text
    assert "Problem found: qsh_mismatch (plus_for_space)." in text
    assert token not in text and installed_site.secret not in text
    assert token[:12] in text


@pytest.mark.django_db
def test_token_from_stdin(installed_site, monkeypatch):
    token = installed_site.page_token("/page")
    status, text = run("token", "-", "--url", "/page", stdin=token + "\n", monkeypatch=monkeypatch)
    assert status == 0 and "Healthy" in text


@pytest.mark.django_db
def test_malformed_and_unknown_tenant(installed_site):
    status, report = run_json("token", "not-a-jwt")
    assert status == 1 and report["code"] == "token_malformed"
    now = int(time.time())
    token = jwt.encode(
        {"iss": "jira:nobody", "iat": now, "exp": now + 60, "qsh": "x"}, "s" * 32, algorithm="HS256"
    )
    status, report = run_json("token", token)
    assert (report["code"], report["cause"]) == ("tenant_unknown", "no_installation")


@pytest.mark.django_db
def test_uninstalled_tenant_still_analysed(installed_site):
    token = installed_site.page_token("/page")
    assert installed_site.uninstall().status_code == 204
    status, report = run_json("token", token, "--url", "/page")
    assert status == 1 and report["code"] == "tenant_uninstalled"
    # The rest of the analysis still runs.
    assert "signature_valid" in [f["code"] for f in report["findings"]]


@pytest.mark.django_db
def test_token_without_url_does_not_check_the_qsh(installed_site):
    status, report = run_json("token", installed_site.page_token("/page"))
    assert status == 0
    assert "qsh_not_checked" in [f["code"] for f in report["findings"]]


@pytest.mark.django_db
def test_context_token_on_context_view_is_healthy(installed_site):
    token = installed_site.context_token()
    assert run_json("token", token, "--url", "/drf/context")[0] == 0
    # Without a URL: said to be a context token, not an error.
    status, report = run_json("token", token)
    assert status == 0 and "context_token" in [f["code"] for f in report["findings"]]
    # --endpoint overrides the URLconf.
    assert run_json("token", token, "--url", "/page", "--endpoint", "context")[0] == 0


@pytest.mark.django_db
def test_signed_with_another_tenants_secret(site_factory):
    a, b = site_factory(), site_factory()
    assert a.install().status_code == 204 and b.install().status_code == 204
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": a.client_key,
            "iat": now,
            "exp": now + 60,
            "qsh": hash_canonical_request("GET&/page&"),
        },
        b.secret,
        algorithm="HS256",
    )
    _status, report = run_json("token", token, "--url", "/page")
    assert (report["code"], report["cause"]) == ("signature_invalid", "signed_by_other_tenant")
    assert b.client_key in report["findings"][0]["message"]


@pytest.mark.django_db
def test_unknown_secret_after_a_refused_install_is_a_missed_installed(installed_site, settings):
    # The site sent a new secret in an 'installed' we refused; its tokens now fail.
    response = installed_site.install(secret="ATCO-new-" + "n" * 40, baseUrl="https://evil.example")
    assert response.status_code == 401
    token = installed_site.page_token("/page")  # signed with the secret we never stored
    _status, report = run_json("token", token, "--url", "/page")
    assert (report["code"], report["cause"]) == ("signature_invalid", "missed_installed")
    finding = report["findings"][0]
    assert finding["details"]["refused_installs"][0]["code"] == "product_host_not_allowed"


@pytest.mark.django_db
def test_expired_token(installed_site):
    token = installed_site.page_token("/page", now=time.time() - 600)
    _status, report = run_json("token", token, "--url", "/page")
    assert (report["code"], report["cause"]) == ("token_expired", "expired")
    assert report["findings"][1]["details"]["expired_seconds_ago"] >= 400


@pytest.mark.django_db
def test_missing_qsh_and_alg_none(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {"iss": installed_site.client_key, "iat": now, "exp": now + 60},
        installed_site.secret,
        algorithm="HS256",
    )
    assert run_json("token", token, "--url", "/page")[1]["code"] == "qsh_missing"
    none_token = jwt.encode({"iss": installed_site.client_key}, None, algorithm="none")
    assert run_json("token", none_token)[1]["code"] == "alg_not_allowed"


@pytest.mark.django_db
def test_install_token(installed_site):
    token = installed_site.signed("installed")
    status, report = run_json("token", token, "--method", "POST", "--url", "/installed")
    assert status == 0, report
    assert report["facts"]["kind"] == "signed install (RS256)"
    assert {"signature_valid", "times_valid", "qsh_valid"} <= {
        f["code"] for f in report["findings"]
    }
    other = installed_site.signed("installed", aud=["https://old.example.com"])
    status, report = run_json("token", other, "--method", "POST", "--url", "/installed")
    assert (report["code"], report["cause"]) == ("audience_invalid", "base_url_changed")
    status, report = run_json("token", token, "--method", "POST", "--url", "/uninstalled")
    assert report["code"] == "qsh_mismatch"
