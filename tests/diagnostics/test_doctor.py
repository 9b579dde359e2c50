"""manage.py connect_doctor: the descriptor lint, usage and exit codes, the docs.

The catalogue of broken setups is in ``test_doctor_catalogue.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from django_atlassian_connect import diagnostics
from django_atlassian_connect.models import AccessToken, Tenant
from tests.diagnostics.doctor_support import ACCOUNT, APP_KEY, ROOT, run_json

# -- descriptor ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_descriptor_served_by_this_app_is_healthy():
    status, report = run_json("descriptor")
    assert status == 0, report["findings"]
    assert [f["code"] for f in report["findings"]] == ["lifecycle_ok"] * 4


def _cache_a_user_token(site) -> None:
    """Evidence of impersonation, as the database shows it: a cached user token."""
    tenant = Tenant.objects.get(client_key=site.client_key)
    AccessToken.objects.create(tenant=tenant, account_id=ACCOUNT, expires_at=tenant.installed_at)


@pytest.mark.django_db
def test_descriptor_file_with_every_mistake(tmp_path, installed_site):
    _cache_a_user_token(installed_site)
    path = tmp_path / "atlassian-connect.json"
    path.write_text(
        json.dumps(
            {
                "key": "com.example.other",
                "baseUrl": "http://myapp.example.com",
                "authentication": {"type": "none"},
                "lifecycle": {"installed": "/installed", "uninstalled": "/gone"},
                "apiMigrations": {"context-qsh": True},
                "scopes": ["read", "WRITE", "SUPERUSER"],
                "modules": {"generalPages": [{"key": "p", "url": "/nowhere?x=1"}]},
            }
        )
    )
    status, report = run_json("descriptor", "--file", str(path))
    assert status == 1
    found = {(f["code"], f["cause"]) for f in report["findings"]}
    assert {
        ("app_key_mismatch", ""),
        ("base_url_not_https", ""),
        ("audience_invalid", "base_url_mismatch"),
        ("authentication_not_jwt", ""),
        ("signed_install_missing", ""),
        ("lifecycle_unreachable", "uninstalled"),
        ("lifecycle_missing", "enabled"),
        ("scope_unknown", ""),
        ("module_url_unreachable", "generalPages"),
        # A cached user token: impersonation without ACT_AS_USER.
        ("act_as_user_missing", "scope_not_declared"),
    } <= found
    assert ("lifecycle_ok", "") in found  # /installed is served
    assert "context_qsh_migration_missing" not in {c for c, _ in found}


@pytest.mark.django_db
def test_descriptor_lint_of_settings_without_act_as_user(settings, installed_site):
    _cache_a_user_token(installed_site)
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "SCOPES": ["READ", "WRITE"],
        "BASE_URL": "http://127.0.0.1:8000",
    }
    status, report = run_json("descriptor")
    codes = {f["code"]: f for f in report["findings"]}
    assert codes["base_url_not_https"]["severity"] == "warning"  # loopback: fine locally
    assert codes["act_as_user_missing"]["details"]["scopes"] == ["READ", "WRITE"]
    assert status == 1


# -- usage and exit codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("nonsense",),
        ("token",),
        ("token", "abc", "--client-key", "k"),
        ("token", "abc", "--method", "GET"),
        ("tenant", "k", "--as-user", "a"),
        ("request", "GET", "/x"),
        ("request", "GET", "/x", "--tenant", "k", "--data", "{not json"),
        ("descriptor", "--file", "/no/such/file.json"),
    ],
)
def test_usage_errors_exit_two(args):
    with pytest.raises(CommandError) as excinfo:
        call_command("connect_doctor", *args, stdout=io.StringIO())
    assert excinfo.value.returncode == 2


def test_exit_codes_from_the_command_line(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "django", "connect_doctor"]
    usage = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "COMMAND" in usage.stderr
    healthy = subprocess.run(
        [*command, "descriptor"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "Healthy" in healthy.stdout
    broken = tmp_path / "d.json"
    broken.write_text(
        json.dumps(
            {
                "key": APP_KEY,
                "baseUrl": "https://app.example.com",
                "authentication": {"type": "jwt"},
            }
        )
    )
    problem = subprocess.run(
        [*command, "descriptor", "--file", str(broken), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert problem.returncode == 1
    assert json.loads(problem.stdout)["code"] == "signed_install_missing"


# -- docs -----------------------------------------------------------------------------------

# The error codes of docs/design ARCHITECTURE.md (contract).
ARCHITECTURE_CODES = """token_missing token_malformed token_ambiguous alg_not_allowed
tenant_unknown tenant_uninstalled signature_invalid secret_retired token_expired
token_not_yet_valid claim_missing qsh_missing qsh_mismatch context_qsh_not_allowed
context_qsh_required audience_invalid issuer_mismatch key_invalid key_unavailable
product_host_not_allowed app_key_mismatch""".split()


def test_every_code_is_on_the_troubleshooting_page():
    import re

    from django_atlassian_connect.exceptions import CODES

    page = (ROOT / "docs" / "troubleshooting.rst").read_text(encoding="utf-8")
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "django_atlassian_connect" / "diagnostics").glob("*.py"))
    )
    emitted = set(re.findall(r'(?:report\.add|Finding)\(\s*"([a-z_]+)"', source))
    assert len(emitted) > 40  # the pattern still finds the codes
    codes = (
        set(ARCHITECTURE_CODES)
        | set(CODES)
        | emitted
        | set(diagnostics.HINTS)
        | set(diagnostics.QSH_CAUSES)
    )
    missing = sorted(code for code in codes if f"``{code}``" not in page)
    assert not missing, missing
    # Every code row says which connect_doctor command diagnoses it.
    table = page[page.index("Error codes\n") : page.index("Outbound errors\n")]
    for code in CODES:
        row = table[table.index(f"* - ``{code}``") :]
        row = row[: row.index("* - ", 4)] if "* - " in row[4:] else row
        assert "connect_doctor" in row, code
    # The spec's field symptoms (section 9) are rows of the symptom table.
    symptoms = page[page.index("Symptoms\n") : page.index("Codes of the doctor")]
    for symptom in (
        "401 on every call",
        "401 on some outbound calls only",
        "401 after reinstalling",
        "unauthorized_client",
        "403 on an admin resource",
        "Client must be authenticated",
        "AJAX call back to your server fails",
        '"expired" right after',
    ):
        assert symptom in symptoms, symptom
    assert symptoms.count("connect_doctor") >= 12


def test_connect_doctor_is_in_the_commands_reference():
    page = (ROOT / "docs" / "reference" / "commands.rst").read_text(encoding="utf-8")
    for text in ("``connect_doctor``", "--outbound", "--check", "--show-token", "--file", "``2``"):
        assert text in page, text
