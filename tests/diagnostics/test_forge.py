"""``connect_doctor forge-token``: each refusal of a Forge Invocation Token named with its
cause, the missing OAuth headers explained, and the token never printed."""

from __future__ import annotations

import io
import json
import sys
import time

import jwt
import pytest
from django.core.management import CommandError, call_command

from django_atlassian_connect.diagnostics.forge import analyse_forge_token, header_names
from django_atlassian_connect.testing.forge import ForgeSigningKey

pytestmark = pytest.mark.usefixtures("forge_settings")

OTHER_APP = "ari:cloud:ecosystem::app/99999999-2222-4333-8444-555555555555"


@pytest.fixture
def user(platform):
    return next(iter(platform.accounts))


def doctor(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("connect_doctor", "forge-token", *args, stdout=out, stderr=err)
        status = 0
    except CommandError as exc:
        status = exc.returncode
        err.write(str(exc))
    return status, out.getvalue(), err.getvalue()


def finding(report, code):
    found = report.get(code)
    assert found is not None, report.codes()
    return found


# -- the token itself ------------------------------------------------------------------------------


def test_a_valid_fit_is_healthy_and_never_printed(platform, user):
    token = platform.mint_fit(account_id=user)
    status, out, err = doctor(f"Bearer {token}")
    assert status == 0 and "fit_valid" in out and "Healthy" in out
    assert token not in out + err
    status, out, err = doctor(token, "--json")
    report = json.loads(out)
    assert status == 0 and report["healthy"] and report["command"] == "forge-token"
    assert token not in out + err


def test_audience_shows_both_app_ids(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": OTHER_APP}
    token = platform.mint_fit()
    status, out, err = doctor(token)
    assert status == 1 and "audience_invalid [aud_not_app_id]" in out
    assert platform.app_id in out and OTHER_APP in out
    assert token not in out + err
    found = finding(analyse_forge_token(token), "audience_invalid")
    assert found.details["token_aud"] == platform.app_id
    assert found.details["FORGE_APP_ID"] == [OTHER_APP]


def test_app_id_differing_from_aud(platform):
    report = analyse_forge_token(platform.mint_fit(overrides={"app.id": OTHER_APP}))
    assert finding(report, "audience_invalid").cause == "app_id_differs_from_aud"
    assert report.primary.code == "audience_invalid"


def test_expired_says_by_how_much_and_checks_the_rest_as_issued(platform):
    now = time.time()
    token = platform.mint_fit(now=now - 100)
    report = analyse_forge_token(token, now=now)
    expired = finding(report, "token_expired")
    assert expired.cause == "expired" and expired.details["expired_seconds_ago"] in (74, 75, 76)
    assert "25 s" in expired.message and "FORGE_LEEWAY" in expired.message
    assert report.get("fit_valid_when_issued") is not None
    assert report.primary.code == "token_expired"


def test_expired_with_another_fault_names_that_fault_first(platform):
    now = time.time()
    token = platform.mint_fit(
        now=now - 100, overrides={"app.apiBaseUrl": "https://acme.atlassian.net"}
    )
    report = analyse_forge_token(token, now=now)
    assert report.codes("error") == ["product_host_not_allowed", "token_expired"]
    assert report.primary.cause == "site_url"
    assert report.primary.message.startswith("As of its issue time")


def test_unknown_kid(platform):
    foreign = ForgeSigningKey()
    report = analyse_forge_token(platform.mint_fit(key=foreign))
    found = finding(report, "key_invalid")
    assert found.cause == "unknown_kid" and found.details["kid"] == foreign.kid


def test_unknown_kid_from_staging(platform):
    cloud = platform.installation().cloud_id
    token = platform.mint_fit(
        key=ForgeSigningKey(),
        overrides={"app.apiBaseUrl": f"https://api.stg.atlassian.com/ex/jira/{cloud}"},
    )
    found = finding(analyse_forge_token(token), "key_invalid")
    assert found.cause == "staging_signed" and "api.stg.atlassian.com" in found.message


def test_isolated_cloud(platform):
    found = finding(
        analyse_forge_token(platform.mint_fit(overrides={"icLabel": "ic-one"})), "key_invalid"
    )
    assert found.cause == "isolated_cloud" and "FORGE_IC_JWKS_URL_TEMPLATE" in found.message
    assert "FORGE_IC_LABELS" in found.message


def test_isolated_cloud_label_not_listed(platform, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_IC_JWKS_URL_TEMPLATE": "http://127.0.0.1:9/{IC_LABEL}/jwks.json",
        "FORGE_IC_LABELS": ["ic-listed"],
    }
    found = finding(
        analyse_forge_token(platform.mint_fit(overrides={"icLabel": "ic-other"})), "key_invalid"
    )
    assert found.cause == "isolated_cloud"
    assert "'ic-other' is not on FORGE_IC_LABELS" in found.message


@pytest.mark.parametrize("drop", ["jti", "app.installationId", "app.apiBaseUrl"])
def test_missing_claims(platform, drop):
    report = analyse_forge_token(platform.mint_fit(drop=[drop]))
    assert report.primary.code == "claim_missing" and report.primary.cause == "claims"


@pytest.mark.parametrize(
    "api_base_url, cause",
    [
        ("https://evil.example.com/ex/jira/x", "host_not_listed"),
        ("https://acme.atlassian.net", "site_url"),
        ("https://api.stg.atlassian.com/ex/jira/x", "staging_api_host"),
    ],
)
def test_api_base_url_host_not_allowed(platform, api_base_url, cause):
    token = platform.mint_fit(overrides={"app.apiBaseUrl": api_base_url})
    status, out, _ = doctor(token)
    assert status == 1 and f"product_host_not_allowed [{cause}]" in out
    assert "FORGE_API_HOSTS" in out and "127.0.0.1" in out


def test_connect_jwt_and_oauth_token_are_not_fits():
    connect = jwt.encode({"iss": "client", "qsh": "x", "iat": 1, "exp": 2}, "k" * 32, "HS256")
    assert analyse_forge_token(connect).primary.cause == "connect_jwt"
    oauth = jwt.encode({"iss": "https://auth.example", "exp": 2}, "k" * 32, "HS256")
    assert analyse_forge_token(oauth).primary.cause == "not_a_fit"


def test_forge_app_id_unset(platform, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": None}
    report = analyse_forge_token(platform.mint_fit())
    assert report.primary.code == "forge_app_id_missing"


# -- the headers the call carried -----------------------------------------------------------------


def test_ui_call_without_tokens_points_at_the_endpoint_auth(platform, user):
    token = platform.mint_fit(account_id=user)
    status, out, err = doctor(token, "--headers", "authorization, x-b3-traceid", "--json")
    report = json.loads(out)
    codes = {f["code"]: f for f in report["findings"]}
    assert status == 1 and report["code"] == "system_token_header_missing"
    assert codes["system_token_header_missing"]["cause"] == "auth_not_on_endpoint"
    assert "read:app-system-token" in codes["system_token_header_missing"]["message"]
    assert codes["user_token_header_missing"]["severity"] == "warning"
    assert token not in out + err


def test_function_call_without_tokens_points_at_the_remote_auth(platform):
    token = platform.mint_fit(kind="function", module_key="forge-remote-fn")
    report = analyse_forge_token(token, headers=["Authorization"])
    found = finding(report, "system_token_header_missing")
    assert found.cause == "auth_not_on_remote" and "remotes[] entry" in found.message


def test_trigger_with_the_system_token_is_healthy(platform):
    token = platform.mint_fit(kind="scheduled", module_key="forge-token-refresh")
    headers = ["authorization,x-b3-traceid,x-b3-spanid,x-forge-oauth-system"]
    report = analyse_forge_token(token, headers=headers)
    assert report.healthy, report.codes()
    assert report.get("user_token_not_expected").severity == "info"


def test_header_values_are_never_echoed(platform):
    token = platform.mint_fit()
    _, out, err = doctor(
        token, "--headers", "x-forge-oauth-system: sekrit-system-token", "--headers", "sekrit2"
    )
    assert "sekrit" not in out + err and "x-forge-oauth-system" in out
    assert header_names(["HTTP_X_FORGE_OAUTH_USER", "X-B3-TraceId: abc"]) == {
        "x-forge-oauth-user",
        "x-b3-traceid",
    }


# -- the command ---------------------------------------------------------------------------------


def test_token_from_stdin_and_usage_errors(platform, monkeypatch):
    token = platform.mint_fit()
    status, out, _ = doctor("-", stdin=token + "\n", monkeypatch=monkeypatch)
    assert status == 0 and token not in out
    status, _, _ = doctor("-", stdin="\n", monkeypatch=monkeypatch)
    assert status == 2
