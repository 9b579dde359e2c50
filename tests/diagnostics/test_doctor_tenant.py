"""connect_doctor tenant and request: the history, and checks against the simulated site."""

from __future__ import annotations

import json

import jwt
import pytest

from django_atlassian_connect.crypto import fingerprint
from django_atlassian_connect.models import AccessToken, LifecycleEvent, Tenant
from tests.diagnostics.doctor_support import ACCOUNT, APP_KEY, run, run_json

# -- tenant ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tenant_history_by_client_key_and_base_url(installed_site):
    first = installed_site.secret
    assert installed_site.install(secret="ATCO-second-" + "x" * 40).status_code == 204
    assert installed_site.install(baseUrl="https://evil.example").status_code == 401
    for identifier in (installed_site.client_key, installed_site.base_url + "/"):
        status, report = run_json("tenant", identifier)
        assert report["facts"]["tenant"]["client_key"] == installed_site.client_key
    history = report["facts"]["install_history"]
    assert [(e["accepted"], e["code"]) for e in history] == [
        (True, None),
        (True, None),
        (False, "product_host_not_allowed"),
    ]
    secrets = report["facts"]["secret_history"]
    assert [(s["fingerprint"], s["state"]) for s in secrets] == [
        (fingerprint(first), "retired"),
        (fingerprint(installed_site.secret), "current"),
    ]
    assert report["facts"]["tenant"]["oauth_client_id"] == "present"
    # The latest install was refused: a problem, named by its own code.
    assert status == 1
    assert (report["code"], report["cause"]) == ("product_host_not_allowed", "installed_refused")
    text = json.dumps(report) + run("tenant", installed_site.client_key)[1]
    assert first not in text and installed_site.secret not in text


@pytest.mark.django_db
def test_tenant_unknown_lists_refused_deliveries(site):
    assert site.install(key="com.other.app").status_code == 401
    status, report = run_json("tenant", site.client_key)
    assert status == 1 and report["code"] == "tenant_unknown"
    refused = [f for f in report["findings"] if f["code"] == "install_refused"]
    assert refused and refused[0]["cause"] == "app_key_mismatch"


@pytest.mark.django_db
def test_tenant_verification_and_impersonation_problems(installed_site, settings):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    tenant.verification_status = "unauthorized"
    tenant.oauth_client_id = ""
    tenant.save()
    status, report = run_json("tenant", installed_site.client_key)
    assert status == 1
    assert (report["code"], report["cause"]) == ("signature_invalid", "stale_secret")
    assert "oauth_client_id_missing" in [f["code"] for f in report["findings"]]
    # Impersonation in use without ACT_AS_USER in SCOPES.
    tenant.verification_status = "ok"
    tenant.save()
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SCOPES": ["READ"]}
    AccessToken.objects.create(tenant=tenant, account_id=ACCOUNT, expires_at=tenant.installed_at)
    _status, report = run_json("tenant", installed_site.client_key)
    assert (report["code"], report["cause"]) == ("act_as_user_missing", "scope_not_declared")


@pytest.mark.django_db
def test_tenant_uninstalled_and_ambiguous(site_factory):
    a = site_factory()
    assert a.install().status_code == 204 and a.uninstall().status_code == 204
    b = site_factory()
    b.base_url = a.base_url  # a site import: a new clientKey for the same site
    assert b.install().status_code == 204
    status, report = run_json("tenant", a.client_key)
    assert report["code"] == "tenant_uninstalled"
    status, report = run_json("tenant", a.base_url)
    assert status == 0 and report["facts"]["tenant"]["client_key"] == b.client_key
    assert "tenant_ambiguous" in [f["code"] for f in report["findings"]]


# -- against the simulated site ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tenant_check_healthy(jira):
    status, report = run_json("tenant", jira.client_key, "--check", "--as-user", ACCOUNT)
    assert status == 0, report["findings"]
    codes = [f["code"] for f in report["findings"]]
    assert "app_call_ok" in codes and "impersonation_ok" in codes
    assert jira.grants == 1
    # Without an account (and none cached), the grant is not attempted.
    status, report = run_json("tenant", jira.client_key, "--check")
    assert "impersonation_not_checked" in [f["code"] for f in report["findings"]]
    assert jira.grants == 1


@pytest.mark.django_db(transaction=True)
def test_tenant_check_invalid_grant(jira):
    status, report = run_json("tenant", jira.client_key, "--check", "--as-user", "no-such-user")
    assert status == 1 and report["code"] == "invalid_grant"


@pytest.mark.django_db(transaction=True)
def test_request_as_app_shows_claims_not_the_token(jira):
    status, report = run_json("request", "GET", "/rest/api/3/myself", "--tenant", jira.client_key)
    assert status == 0, report["findings"]
    facts = report["facts"]
    assert facts["signed_claims"]["iss"] == APP_KEY
    assert facts["canonical_request"] == "GET&/rest/api/3/myself&"
    assert facts["secret"] == fingerprint(jira.shared_secret)
    assert facts["status"] == "200 OK" and '"accountType": "app"' in facts["response"]
    assert facts["authorization"].startswith("JWT eyJ") and "chars)" in facts["authorization"]
    text = json.dumps(report)
    assert jira.shared_secret not in text
    status, report = run_json(
        "request", "GET", "/rest/api/3/myself", "--tenant", jira.client_key, "--show-token"
    )
    header = report["facts"]["authorization"]
    assert header.startswith("JWT ") and len(header) > 100
    assert jwt.decode(header[4:], jira.shared_secret, algorithms=["HS256"])["iss"] == APP_KEY


@pytest.mark.django_db(transaction=True)
def test_request_as_user(jira):
    status, report = run_json(
        "request",
        "GET",
        "/rest/api/3/myself",
        "--tenant",
        jira.base_url,
        "--as-user",
        ACCOUNT,
        "--scope",
        "read",
    )
    assert status == 0, report["findings"]
    assert report["facts"]["authorization"].startswith("Bearer ")
    assert ACCOUNT in report["facts"]["response"]
    assert AccessToken.objects.get().token not in json.dumps(report)


@pytest.mark.django_db(transaction=True)
def test_request_unknown_tenant_and_not_found(jira):
    status, report = run_json("request", "GET", "/rest/api/3/myself", "--tenant", "jira:nobody")
    assert status == 1 and report["code"] == "tenant_unknown"
    status, report = run_json("request", "GET", "/rest/api/3/nothing", "--tenant", jira.client_key)
    assert status == 1 and report["code"] == "not_found"
    assert report["facts"]["status"].startswith("404")


@pytest.mark.django_db(transaction=True)
def test_lifecycle_events_are_not_touched_by_the_doctor(jira):
    before = LifecycleEvent.objects.count()
    run_json("tenant", jira.client_key, "--check", "--as-user", ACCOUNT)
    assert LifecycleEvent.objects.count() == before
    assert Tenant.objects.get(pk=jira.tenant.pk).last_verified_at is None
