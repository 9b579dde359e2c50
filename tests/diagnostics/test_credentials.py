"""``connect_doctor credentials``: each way a call to Atlassian Cloud outside Connect goes
wrong, named with its code, and the credential never printed."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from datetime import date, timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_atlassian_connect.credentials import ApiTokenClient, ServiceAccountClient
from django_atlassian_connect.diagnostics.credentials import analyse_credentials, read_credential
from django_atlassian_connect.exceptions import ConnectAPIError
from django_atlassian_connect.models import OAuthGrant
from django_atlassian_connect.testing.credentials import ISSUE_NOT_FOUND, CredentialsSimulator

SITE = "https://acme.atlassian.net"
CLOUD_ID = "11223344-5566-4778-899a-abbccddeeff0"
ISSUE_URL = f"{SITE}/rest/api/3/issue/DEMO-1"
API_TOKEN = "ATATT3xFfGF0" + "q" * 180
ANON_BODY = json.dumps({"errorMessages": [ISSUE_NOT_FOUND], "errors": {}})
AUTH_FIRST = json.dumps(
    {"errorMessages": ["Client must be authenticated to access this resource."]}
)


def basic(email: str = "ada@example.com", token: str = API_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()


def idp_token(iss: str, **claims) -> str:
    body = {"iss": iss, "aud": "api://corp", "tid": "t", "oid": "o", "exp": time.time() + 3600}
    return jwt.encode({**body, **claims}, "k" * 32, algorithm="HS256")


def atlassian_token(exp: float | None = None) -> str:
    claims = {
        "iss": "https://auth.atlassian.com",
        "aud": "api.atlassian.com",
        "sub": "712020:abc",
        "exp": int(exp if exp is not None else time.time() + 3600),
    }
    return jwt.encode(claims, "s" * 32, algorithm="HS256")


def doctor(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("connect_doctor", "credentials", *args, stdout=out, stderr=err)
        status = 0
    except CommandError as exc:
        status = exc.returncode
        err.write(str(exc))
    return status, out.getvalue(), err.getvalue()


def doctor_json(*args: str) -> tuple[int, dict, str]:
    status, out, err = doctor(*args, "--json")
    return status, json.loads(out), out + err


def assert_secret_free(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def secrets_of(header: str) -> list[str]:
    """The header value, its credential part and (Basic) the decoded token."""
    _, _, value = header.partition(" ")
    found = [header, value]
    if header.startswith("Basic "):
        found.append(base64.b64decode(value).decode().split(":", 1)[1])
    return found


# -- the cases of the issue ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iss", "provider"),
    [
        ("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "Azure AD"),
        ("https://login.microsoftonline.com/72f988bf/v2.0", "Azure AD"),
        ("https://acme.okta.com/oauth2/default", "Okta"),
        ("https://sso.corp.example/realms/main", "sso.corp.example"),
    ],
)
def test_an_identity_provider_token(iss, provider):
    header = "Bearer " + idp_token(iss)
    status, report, text = doctor_json(
        header, "--url", ISSUE_URL, "--status", "401", "--body", AUTH_FIRST
    )
    assert status == 1 and report["code"] == "sso_token"
    finding = report["findings"][0]
    assert provider in finding["message"] and "Client must be authenticated" in finding["message"]
    assert "API token" in finding["hint"] and "3LO" in finding["hint"]
    assert_secret_free(text, *secrets_of(header))
    status, out, err = doctor(header)  # human output, no URL: the same verdict
    assert status == 1 and "sso_token" in out and provider in out
    assert_secret_free(out + err, *secrets_of(header))


def test_basic_auth_that_ran_as_anonymous():
    header = basic()
    status, report, text = doctor_json(
        header, "--url", ISSUE_URL, "--status", "404", "--body", ANON_BODY
    )
    assert status == 1 and report["code"] == "basic_auth_anonymous"
    assert report["cause"] == "issue_not_found_message"
    assert report["facts"]["email"] == "ada@example.com"
    assert "/rest/api/3/myself" in report["findings"][0]["hint"]
    assert_secret_free(text, *secrets_of(header))


def test_a_scoped_token_sent_to_the_site_url():
    header = basic()
    status, report, text = doctor_json(header, "--scoped", "--url", ISSUE_URL, "--status", "404")
    assert status == 1 and report["code"] == "scoped_token_site_url"
    assert "basic_auth_anonymous" in [f["code"] for f in report["findings"]]
    assert "/ex/jira/{cloudId}" in report["findings"][0]["hint"]
    assert_secret_free(text, *secrets_of(header))
    # Through the gateway the same token is fine.
    gateway = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}/rest/api/3/myself"
    status, report, _ = doctor_json(header, "--scoped", "--url", gateway, "--status", "200")
    assert status == 0 and report["healthy"]


def test_an_expired_api_token():
    header = basic()
    status, report, text = doctor_json(header, "--url", ISSUE_URL, "--status", "401")
    assert status == 1 and report["code"] == "api_token_expired"
    assert report["cause"] == "expired_or_revoked"
    assert "2024-12-15" in report["findings"][0]["message"]
    old = (date.today() - timedelta(days=400)).isoformat()
    status, report, _ = doctor_json(header, "--url", ISSUE_URL, "--status", "401", "--created", old)
    assert report["code"] == "api_token_expired" and report["cause"] == "expired"
    recent = (date.today() - timedelta(days=30)).isoformat()
    status, report, _ = doctor_json(
        header, "--url", ISSUE_URL, "--status", "401", "--created", recent
    )
    assert report["code"] == "basic_auth_refused" and report["cause"] == "revoked_or_wrong_pair"
    gateway = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}/rest/api/3/myself"
    status, report, _ = doctor_json(header, "--url", gateway, "--status", "401")
    assert (
        report["code"] == "api_token_expired"
        and "classic token" in report["findings"][0]["message"]
    )
    assert_secret_free(text, *secrets_of(header))


def test_an_oauth_token_sent_to_the_site_url():
    header = "Bearer " + atlassian_token()
    status, report, text = doctor_json(
        header, "--url", f"{SITE}/rest/api/3/myself", "--status", "401"
    )
    assert status == 1 and report["code"] == "oauth_token_site_url"
    assert report["facts"]["credential"].startswith("an OAuth 2.0 access token")
    assert "_edge/tenant_info" in report["findings"][0]["hint"]
    assert_secret_free(text, *secrets_of(header))
    # An opaque bearer token on a site URL: the same mistake.
    status, report, _ = doctor_json("Bearer " + "o" * 40, "--url", f"{SITE}/rest/api/3/myself")
    assert report["code"] == "oauth_token_site_url"


def test_the_gateway_needs_ex_and_an_expired_access_token_is_named():
    header = "Bearer " + atlassian_token(exp=time.time() - 120)
    status, report, text = doctor_json(
        header, "--url", "https://api.atlassian.com/rest/api/3/myself"
    )
    codes = [f["code"] for f in report["findings"]]
    assert status == 1 and codes == ["gateway_path_missing", "access_token_expired"]
    assert_secret_free(text, *secrets_of(header))


def test_a_token_answer_without_a_refresh_token():
    answer = json.dumps(
        {"access_token": atlassian_token(), "expires_in": 3600, "scope": "read:jira-work"}
    )
    status, report, text = doctor_json(
        "--url", "https://auth.atlassian.com/oauth/token", "--body", answer
    )
    assert status == 1 and report["code"] == "offline_access_missing"
    assert report["cause"] == "no_refresh_token" and "access_token" not in report["facts"]["answer"]
    assert_secret_free(text, json.loads(answer)["access_token"])
    good = json.dumps(
        {
            "access_token": atlassian_token(),
            "refresh_token": "r" * 60,
            "expires_in": 3600,
            "scope": "read:jira-work offline_access",
        }
    )
    status, report, text = doctor_json(
        "--url", "https://auth.atlassian.com/oauth/token", "--body", good
    )
    assert status == 0 and report["findings"][0]["code"] == "token_answer_ok"
    assert_secret_free(text, "r" * 60, json.loads(good)["access_token"])


def test_invalid_grant_means_the_grant_is_gone():
    body = json.dumps(
        {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    )
    status, report, _ = doctor_json(
        "--url", "https://auth.atlassian.com/oauth/token", "--status", "403", "--body", body
    )
    assert (
        status == 1
        and report["code"] == "oauth_grant_revoked"
        and report["cause"] == "invalid_grant"
    )
    assert "10 minutes" in report["findings"][0]["message"]
    body = json.dumps({"error": "access_denied", "error_description": "Unauthorized"})
    status, report, _ = doctor_json(
        "--url", "https://auth.atlassian.com/oauth/token", "--body", body
    )
    assert (
        report["code"] == "token_request_refused"
        and "OAUTH_CLIENT_SECRET" in report["findings"][0]["hint"]
    )


# -- stored grants ----------------------------------------------------------------------------------


@pytest.fixture
def make_grant(db):
    user = get_user_model().objects.create_user("ada")

    def make(**fields) -> OAuthGrant:
        now = timezone.now()
        values = {
            "user": user,
            "account_id": f"712020:{OAuthGrant.objects.count()}",
            "scopes": "read:jira-work offline_access",
            "access_token": "at-" + "a" * 40,
            "refresh_token": "rt-" + "b" * 40,
            "access_expires_at": now + timedelta(minutes=30),
            "refresh_token_issued_at": now - timedelta(minutes=30),
            "consented_at": now - timedelta(days=10),
        }
        values.update(fields)
        return OAuthGrant.objects.create(**values)

    return make


def test_an_active_grant_is_healthy(make_grant):
    grant = make_grant()
    status, report, text = doctor_json("--grant", str(grant.pk))
    assert status == 0 and report["findings"][-1]["code"] == "oauth_grant_active"
    assert report["facts"]["grant"]["refresh_token"] == "stored"
    assert_secret_free(text, "a" * 40, "b" * 40)


def test_a_grant_without_offline_access(make_grant):
    grant = make_grant(scopes="read:jira-work", refresh_token=None)
    status, report, _ = doctor_json("--grant", str(grant.pk))
    assert status == 1 and report["code"] == "offline_access_missing"
    assert report["cause"] == "grant_without_refresh_token"


def test_a_revoked_grant(make_grant):
    grant = make_grant(status="revoked", refresh_token=None, last_error="invalid_grant")
    status, report, _ = doctor_json("--grant", str(grant.pk))
    assert (
        status == 1
        and report["code"] == "oauth_grant_revoked"
        and report["cause"] == "grant_revoked"
    )


@pytest.mark.parametrize(
    ("fields", "cause"),
    [
        ({"consented_at": timezone.now() - timedelta(days=366)}, "consent_365_days"),
        ({"refresh_token_issued_at": timezone.now() - timedelta(days=91)}, "unused_90_days"),
    ],
)
def test_a_grant_past_atlassians_limits(make_grant, fields, cause):
    grant = make_grant(**fields)
    status, report, _ = doctor_json("--grant", str(grant.pk))
    assert status == 1 and report["code"] == "oauth_grant_expired" and report["cause"] == cause


def test_a_grant_close_to_its_limit_is_a_warning(make_grant):
    grant = make_grant(consented_at=timezone.now() - timedelta(days=361))
    status, report, _ = doctor_json("--grant", str(grant.pk))
    assert status == 0 and "oauth_grant_expiring" in [f["code"] for f in report["findings"]]


# -- over real HTTP: what the clients got, explained ----------------------------------------------


def test_the_doctor_explains_what_the_simulated_site_answered(settings):
    with CredentialsSimulator() as atlassian:
        settings.ATLASSIAN_CONNECT = {
            **settings.ATLASSIAN_CONNECT,
            "API_URL": atlassian.url,
            "OAUTH_AUTH_URL": atlassian.url,
        }
        token = atlassian.add_api_token("ada@example.com", scoped=True)
        client = ApiTokenClient("ada@example.com", token, atlassian.site_url)
        with pytest.raises(ConnectAPIError) as caught:
            client.session().get("/rest/api/3/issue/DEMO-1")
        error = caught.value
        header = client.authorization()
        status, report, text = doctor_json(
            header,
            "--scoped",
            "--url",
            error.url,
            "--status",
            str(error.status),
            "--body",
            error.response.text,
        )
        assert status == 1 and report["code"] == "scoped_token_site_url"
        assert "basic_auth_anonymous" in [f["code"] for f in report["findings"]]
        assert_secret_free(text, token, header)
        # A service account's token sent to the site: named as an OAuth token on a site.
        client_id, secret = atlassian.add_service_account()
        bearer = ServiceAccountClient(client_id, secret, atlassian.cloud_id).access_token()
        report = analyse_credentials("Bearer " + bearer, url=f"{SITE}/rest/api/3/myself").to_dict()
        assert report["code"] == "oauth_token_site_url"
        assert_secret_free(json.dumps(report), bearer, secret)


# -- input handling -----------------------------------------------------------------------------------


def test_reading_the_credential_from_stdin(monkeypatch):
    header = basic()
    status, out, err = doctor(
        "-", "--url", ISSUE_URL, "--status", "404", stdin=header, monkeypatch=monkeypatch
    )
    assert status == 1 and "basic_auth_anonymous" in out
    assert_secret_free(out + err, *secrets_of(header))


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--url", ISSUE_URL),
        (basic(), "--created", "last year"),
        ("--grant", "999999"),
        ("--grant", "not-a-number"),
    ],
)
def test_usage_errors(args, db):
    status, _, err = doctor(*args)
    assert status == 2 and "Error" in err


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        ("ada@example.com:" + API_TOKEN, "basic", ""),
        ("Basic ada@example.com:" + API_TOKEN, "basic", "not its base64"),
        ("Basic !!!", "unreadable", "not base64"),
        ("Authorization: Basic " + base64.b64encode(b"no-colon").decode(), "unreadable", "no ':'"),
        (API_TOKEN, "api_token", ""),
        ("JWT " + atlassian_token(), "connect_jwt", ""),
    ],
)
def test_reading_credentials(value, kind, problem):
    found = read_credential(value)
    assert found.kind == kind and problem in found.problem
    report = analyse_credentials(value).to_dict()
    assert_secret_free(json.dumps(report), API_TOKEN, value)


def test_basic_with_a_username_is_named():
    report = analyse_credentials(basic(email="ada")).to_dict()
    assert report["findings"][0]["code"] == "basic_user_not_email"


def test_a_bearer_token_the_gateway_refused_is_a_warning():
    gateway = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}/rest/api/3/myself"
    status, report, _ = doctor_json("Bearer " + "o" * 43, "--url", gateway, "--status", "401")
    assert status == 1 and report["code"] == "oauth_token_refused"
    assert "opaque" in report["findings"][0]["message"]
