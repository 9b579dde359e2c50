"""connect_doctor and the system checks: the fixes of "a doctor that reads what views
declare" — a changed APP_KEY, unrouted module URLs, the missing URL include, Django's
options after a sub-command, CommandError from code, a token signed as the app."""

from __future__ import annotations

import email.utils
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_atlassian_connect import diagnostics
from django_atlassian_connect.checks import INCLUDE_LINE
from django_atlassian_connect.exceptions import ConnectAPIError
from django_atlassian_connect.models import Tenant
from django_atlassian_connect.qsh import hash_canonical_request
from tests.doctor_support import run_doctor, run_doctor_json

APP_KEY = "com.example.tests"
RENAMED = "com.example.renamed"
ROOT = Path(__file__).resolve().parents[2]
NO_INCLUDE = "tests.doctor_urls_without_connect"


doctor = run_doctor_json
doctor_text = run_doctor


def rename_app(settings) -> None:
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "APP_KEY": RENAMED}


def codes(report: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["cause"]) for f in report["findings"]]


# -- APP_KEY changed after install -----------------------------------------------------------


@pytest.mark.django_db
def test_tenant_report_names_a_changed_app_key_not_a_stale_secret(installed_site, settings):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    tenant.verification_status = "unauthorized"  # the last verify_installations got 401
    tenant.save()
    rename_app(settings)
    status, report = doctor("tenant", installed_site.client_key)
    assert status == 1
    assert (report["code"], report["cause"]) == ("app_key_mismatch", "app_key_changed")
    finding = report["findings"][[c for c, _ in codes(report)].index("app_key_mismatch")]
    assert "does not match the tenant's" in finding["message"]
    assert finding["details"]["tenant_app_key"] == APP_KEY
    assert finding["details"]["configured_app_key"] == RENAMED
    assert finding["details"]["last_verification"]
    assert APP_KEY in finding["hint"]
    assert ("signature_invalid", "stale_secret") not in codes(report)
    assert report["facts"]["tenant"]["app_key"] == APP_KEY


@pytest.mark.django_db
def test_explained_401_names_a_changed_app_key(installed_site, settings):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    response = requests.Response()
    response.status_code = 401
    response._content = b'{"message": "Authentication failed"}'
    response.headers["Date"] = email.utils.formatdate(time.time(), usegmt=True)
    response.request = requests.Request("GET", tenant.base_url + "/rest/api/3/myself").prepare()
    error = ConnectAPIError("refused", tenant=tenant, response=response)
    assert diagnostics.explain_outbound_error(error, tenant).cause == "stale_secret"
    rename_app(settings)
    finding = diagnostics.explain_outbound_error(error, tenant)
    assert (finding.code, finding.cause) == ("app_key_mismatch", "app_key_changed")
    assert finding.message.startswith("GET /rest/api/3/myself -> 401.")
    assert finding.details["status"] == 401


@pytest.mark.django_db
def test_outbound_token_with_the_new_app_key(installed_site, settings):
    rename_app(settings)
    now = int(time.time())
    claims = {"iat": now, "exp": now + 180, "qsh": hash_canonical_request("GET&/x&")}
    token = jwt.encode({"iss": RENAMED, **claims}, installed_site.secret, algorithm="HS256")
    status, report = doctor(
        "token", f"JWT {token}", "--outbound", "--client-key", installed_site.client_key
    )
    assert (report["code"], report["cause"]) == ("app_key_mismatch", "app_key_changed")
    # Signed with the key the site installed: the site accepts it; the change is a warning.
    token = jwt.encode({"iss": APP_KEY, **claims}, installed_site.secret, algorithm="HS256")
    status, report = doctor(
        "token", f"JWT {token}", "--outbound", "--client-key", installed_site.client_key
    )
    assert status == 0, report["findings"]
    assert ("issuer_valid", "") in codes(report)
    mismatch = next(f for f in report["findings"] if f["code"] == "app_key_mismatch")
    assert mismatch["severity"] == "warning"


@pytest.mark.django_db(transaction=True)
def test_live_calls_after_the_app_key_changed(jira, settings):
    rename_app(settings)
    status, report = doctor("request", "GET", "/rest/api/3/myself", "--tenant", jira.client_key)
    assert status == 1
    assert (report["code"], report["cause"]) == ("app_key_mismatch", "app_key_changed")
    status, report = doctor("tenant", jira.client_key, "--check")
    assert (report["code"], report["cause"]) == ("app_key_mismatch", "app_key_changed")
    assert [c for c, _ in codes(report)].count("app_key_mismatch") == 1
    assert ("signature_invalid", "stale_secret") not in codes(report)


# -- descriptor modules our URLconf does not route ---------------------------------------------


@pytest.mark.django_db
def test_unrouted_module_url_is_an_error(settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "DESCRIPTOR": {
            "modules": {
                "generalPages": [
                    {"key": "here", "url": "/page"},
                    {"key": "gone", "url": "/no-such-page?project={project.key}"},
                ],
                "webhooks": [{"event": "jira:issue_created", "url": "/hooks/missing"}],
            }
        },
    }
    status, text = doctor_text("descriptor")
    assert status == 1
    assert "ERROR module_url_unreachable [generalPages]" in text
    assert "ERROR module_url_unreachable [webhooks]" in text
    assert "'here'" not in text
    assert "Healthy" not in text
    assert text.rstrip().splitlines()[-1].startswith("Problem found: module_url_unreachable")


# -- include("django_atlassian_connect.urls") missing -------------------------------------------


@override_settings(ROOT_URLCONF=NO_INCLUDE)
def test_check_reports_the_missing_include_with_the_line_to_add():
    messages = [m for m in run_checks() if m.id == "atlassian_connect.E005"]
    assert len(messages) == 1
    assert NO_INCLUDE in messages[0].msg
    assert INCLUDE_LINE in messages[0].hint
    assert f"urlpatterns in {NO_INCLUDE} (" in messages[0].hint
    assert "doctor_urls_without_connect.py" in messages[0].hint


@override_settings(ROOT_URLCONF=NO_INCLUDE)
def test_connect_descriptor_says_what_to_add_instead_of_a_traceback():
    with pytest.raises(CommandError) as excinfo:
        call_command("connect_descriptor", stdout=io.StringIO())
    assert INCLUDE_LINE in str(excinfo.value)
    assert NO_INCLUDE in str(excinfo.value)


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=NO_INCLUDE)
def test_doctor_fix_line_names_the_urlconf_module():
    status, text = doctor_text("descriptor")
    assert status == 1
    assert "ERROR lifecycle_unreachable [urls_not_included]" in text
    assert f"fix: Add {INCLUDE_LINE} to urlpatterns in {NO_INCLUDE}" in text


@pytest.mark.django_db
def test_unrouted_lifecycle_callback_hint_names_the_urlconf_module(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"key": APP_KEY, "lifecycle": {"installed": "/elsewhere"}}))
    _status, report = doctor("descriptor", "--file", str(path))
    finding = next(f for f in report["findings"] if f["cause"] == "installed")
    assert finding["code"] == "lifecycle_unreachable"
    assert "urlpatterns in tests.urls" in finding["hint"]


def test_the_test_urlconf_passes_the_url_check():
    assert not [m for m in run_checks() if m.id == "atlassian_connect.E005"]


# -- call_command and the command line ----------------------------------------------------------


@pytest.mark.django_db
def test_a_problem_found_raises_command_error_after_the_report(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"key": APP_KEY}))
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("connect_doctor", "descriptor", "--file", str(path), stdout=out)
    assert excinfo.value.returncode == 1
    assert "Problem found:" in out.getvalue()  # the report was written first
    assert "descriptor" in str(excinfo.value)


@pytest.mark.django_db
def test_healthy_raises_nothing():
    out = io.StringIO()
    call_command("connect_doctor", "descriptor", stdout=out)
    assert "Healthy" in out.getvalue()


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", "connect_doctor", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_django_options_after_the_sub_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    # --settings and --pythonpath after the sub-command (and its own options).
    done = _run(
        "descriptor", "--settings=tests.settings", "--pythonpath", str(ROOT), cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "Healthy" in done.stdout
    broken = tmp_path / "d.json"
    broken.write_text(json.dumps({"key": APP_KEY}))
    done = _run(
        "descriptor",
        "--file",
        str(broken),
        "--json",
        "--settings",
        "tests.settings",
        f"--pythonpath={ROOT}",
        "--traceback",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["healthy"] is False
    assert "CommandError" not in done.stderr and "Traceback" not in done.stderr
    # Before the sub-command, as Django always allowed.
    done = _run("--settings=tests.settings", "descriptor", cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr


# -- an inbound token signed as the app ---------------------------------------------------------


@pytest.mark.django_db
def test_inbound_token_with_our_app_key_as_iss(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {"iss": APP_KEY, "iat": now, "exp": now + 60, "qsh": hash_canonical_request("GET&/page&")},
        installed_site.secret,
        algorithm="HS256",
    )
    status, report = doctor("token", token, "--url", "/page")
    assert status == 1
    assert (report["code"], report["cause"]) == ("tenant_unknown", "iss_is_app_key")
    finding = report["findings"][0]
    assert "front end or a script signed this one as the app" in finding["message"]
    assert installed_site.client_key in finding["message"]
    assert finding["details"]["signed_with_secret_of"] == installed_site.client_key
    assert "--outbound" in finding["hint"]
