"""diagnostics.py and manage.py connect_doctor: the analysis, the output, the exit codes.

The catalogue of broken setups is in ``test_doctor_catalogue.py``.
"""

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
from django.core.management import CommandError, call_command

from django_atlassian_connect import diagnostics
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.crypto import fingerprint
from django_atlassian_connect.exceptions import ConnectAPIError
from django_atlassian_connect.models import AccessToken, LifecycleEvent, SharedSecret, Tenant
from django_atlassian_connect.qsh import canonical_request, hash_canonical_request
from tests.conftest import run_doctor, run_doctor_json

APP_KEY = "com.example.tests"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_doctor(*args)


run_json = run_doctor_json


def app_token(secret: str, canonical: str, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": APP_KEY,
        "iat": now,
        "exp": now + 180,
        "qsh": hash_canonical_request(canonical),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


# -- the qsh mistake search -------------------------------------------------------------

WIKI = "https://example.atlassian.net/wiki"


@pytest.mark.parametrize(
    ("method", "url", "base_url", "signer_canonical", "cause"),
    [
        (
            "GET",
            "/wiki/rest/api/content?t=a",
            WIKI,
            "GET&/wiki/rest/api/content&t=a",
            "wiki_in_qsh",
        ),
        # The URL given without /wiki, the signer added it.
        ("GET", "/rest/api/content", WIKI, "GET&/wiki/rest/api/content&", "wiki_in_qsh"),
        (
            "GET",
            "/myapp/page",
            "https://app.example.com/myapp",
            "GET&/myapp/page&",
            "base_path_included",
        ),
        ("GET", "/s?q=a%20b", None, "GET&/s&q=a+b", "plus_for_space"),
        ("GET", "/s?q=a+b", None, "GET&/s&q=a+b", "plus_for_space"),
        ("GET", "/s?b=2&a=1", None, "GET&/s&b=2&a=1", "unsorted_query"),
        ("GET", "/s?r=b&r=a", None, "GET&/s&r=b&r=a", "unsorted_query"),
        ("GET", "/s?a=1&jwt=xyz", None, "GET&/s&a=1&jwt=xyz", "jwt_param_hashed"),
        ("GET", "/s/", None, "GET&/s/&", "trailing_slash_kept"),
        ("GET", "/issue/A%2FB", None, "GET&/issue/A/B&", "decoded_path"),
        ("GET", "/issue/a b", None, "GET&/issue/a%20b&", "encoded_path"),
        ("GET", "/s?q=%7euser", None, "GET&/s&q=%7euser", "query_not_decoded"),
        ("GET", "/s?a=1", None, "GET&/s&", "query_omitted"),
        ("POST", "/s?a=1", None, "GET&/s&a=1", "wrong_method"),
        ("GET", "/s?b=x%20y&a=1", None, "GET&/s&b=x+y&a=1", "unsorted_query+plus_for_space"),
        ("GET", "/wiki/x?b=1&a=2", WIKI, "GET&/wiki/x&b=1&a=2", "wiki_in_qsh+unsorted_query"),
    ],
)
def test_find_qsh_mistake(method, url, base_url, signer_canonical, cause):
    variant = diagnostics.find_qsh_mistake(
        hash_canonical_request(signer_canonical), method, url, base_url
    )
    assert variant is not None and variant.canonical == signer_canonical
    assert variant.cause == cause
    assert variant.describe()


def test_qsh_variants_start_with_the_right_request():
    variants = diagnostics.qsh_variants("get", "/s?b=2&a=1&jwt=t", "https://x.example/base")
    assert variants[0].mistakes == ()
    assert variants[0].canonical == canonical_request("GET", "/s?b=2&a=1&jwt=t")
    assert len({v.canonical for v in variants}) == len(variants)
    assert [len(v.mistakes) for v in variants] == sorted(len(v.mistakes) for v in variants)


def test_find_qsh_mistake_right_and_unknown():
    right = diagnostics.find_qsh_mistake(
        hash_canonical_request("GET&/s&a=1"), "GET", "https://h.example/s?a=1"
    )
    assert right is not None and right.mistakes == ()
    assert diagnostics.find_qsh_mistake("0" * 64, "GET", "/s?a=1") is None


def test_endpoint_kind_reads_the_urlconf():
    assert diagnostics.endpoint_kind("/page")[0] == "request"
    assert diagnostics.endpoint_kind("/page/x/y?a=1")[0] == "request"
    assert diagnostics.endpoint_kind("/context")[0] == "context"
    assert diagnostics.endpoint_kind("/drf/context") == ("context", "drf-context")
    assert diagnostics.endpoint_kind("https://app.example.com/drf/page")[0] == "request"
    assert diagnostics.endpoint_kind("/installed")[0] == "request"
    assert diagnostics.endpoint_kind("/no/such/page") == (None, "")


def test_token_prefix_never_shows_a_usable_token():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    shown = diagnostics.token_prefix(token)
    assert shown.startswith(token[:12]) and token not in shown and f"{len(token)} chars" in shown
    assert diagnostics.token_prefix("short") == "…"


def test_split_scheme():
    assert diagnostics.split_scheme("JWT abc") == ("abc", "jwt")
    assert diagnostics.split_scheme("Authorization: Bearer abc") == ("abc", "bearer")
    assert diagnostics.split_scheme("  abc ") == ("abc", None)


def test_finding_rejects_an_unknown_severity_and_takes_default_hints():
    with pytest.raises(ValueError):
        diagnostics.Finding("x", "fatal", "m")
    assert diagnostics.Finding("qsh_mismatch", "error", "m").hint.startswith("The token's qsh")
    assert "ACT_AS_USER" in diagnostics.Finding("act_as_user_missing", "error", "m").hint
    assert diagnostics.Finding("qsh_valid", "ok", "m").hint == ""


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
