"""forge_manifest --check: clean on the generated manifest, one line per mismatch otherwise."""

from __future__ import annotations

import copy

import pytest
import yaml

from django_atlassian_connect.codes import CODES
from django_atlassian_connect.codes.adoption import ADOPTION
from tests.adoption.support import forge_manifest, generate, save

pytestmark = pytest.mark.django_db

DESCRIPTOR = {
    "modules": {
        "generalPages": [{"key": "hello", "name": {"value": "Hello"}, "url": "/hello"}],
        "webhooks": [{"event": "jira:issue_created", "url": "/hook"}],
    }
}


@pytest.fixture
def manifest(configure, full_urls):
    configure(SCOPES=["READ", "ACT_AS_USER"], DESCRIPTOR=DESCRIPTOR)
    return generate().manifest


def check(tmp_path, data, *args: str):
    path = save(tmp_path, yaml.safe_dump(data, sort_keys=False))
    return forge_manifest("--check", str(path), *args)


def lines_of(run) -> list[str]:
    assert run.error is not None, run.out
    assert run.error.returncode == 1
    assert "mismatch(es) with the settings and the URLconf" in str(run.error)
    return run.out.splitlines()


def only_finding(run, code: str, fix: str | None = None) -> str:
    """The one line of a run that finds ``code``: ``<code>: <what> — <fix>``."""
    lines = lines_of(run)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{code}: ")
    assert lines[0].endswith(" — " + (fix or CODES[code].hint))
    return lines[0]


# -- clean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"FORGE_OFFLINE_IMPERSONATION": True},
        {"FORGE_REGIONS": {"EU": "https://eu.example.com"}},
    ],
)
def test_the_generated_manifest_passes(configure, full_urls, tmp_path, variant):
    configure(DESCRIPTOR=DESCRIPTOR, **variant)
    path = save(tmp_path, generate().out)
    run = forge_manifest("--check", str(path))
    assert run.error is None, run.out
    assert run.out == f"{path} matches the settings and the URLconf.\n"


def test_the_variable_form_of_the_connect_key_passes(configure, full_urls, tmp_path):
    path = save(tmp_path, generate("--connect-key-variable", "CONNECT_KEY").out)
    assert forge_manifest("--check", str(path)).error is None


def test_without_a_product_setting_the_manifest_names_it(configure, full_urls, tmp_path):
    configure(FORGE_PRODUCT=None)
    path = save(tmp_path, generate("--product", "jira").out)
    assert forge_manifest("--check", str(path)).error is None


# -- one test per code ---------------------------------------------------------------------


def test_app_id_mismatch(manifest, tmp_path):
    manifest["app"]["id"] = "ari:cloud:ecosystem::app/99999999-2222-4333-8444-555555555555"
    line = only_finding(check(tmp_path, manifest), "manifest_app_id_mismatch")
    assert "99999999-2222-4333-8444-555555555555" in line


def test_connect_key_mismatch(manifest, tmp_path):
    manifest["app"]["connect"]["key"] = "com.example.other"
    line = only_finding(check(tmp_path, manifest), "manifest_connect_key_mismatch")
    assert "'com.example.other'" in line and "'com.example.tests'" in line


def test_connect_key_variable_not_declared(manifest, tmp_path):
    manifest["app"]["connect"]["key"] = "${CONNECT_KEY}"
    fix = "Declare it: environment: {variables: [{key: CONNECT_KEY, default: com.example.tests}]}."
    line = only_finding(check(tmp_path, manifest), "manifest_connect_key_mismatch", fix)
    assert "CONNECT_KEY is not declared under environment.variables" in line


def test_connect_key_variable_declared_by_name_passes(manifest, tmp_path):
    manifest["app"]["connect"]["key"] = "${CONNECT_KEY}"
    manifest["environment"] = {"variables": ["CONNECT_KEY"]}
    assert check(tmp_path, manifest).error is None


def test_base_url_mismatch(manifest, tmp_path):
    manifest["remotes"][0]["baseUrl"] = "https://old.example.com"
    line = only_finding(check(tmp_path, manifest), "manifest_base_url_mismatch")
    assert "'https://old.example.com'" in line and "'https://app.example.com'" in line


def test_base_url_mismatch_when_the_remote_is_gone(manifest, tmp_path):
    manifest["remotes"][0]["key"] = "elsewhere"
    line = only_finding(check(tmp_path, manifest), "manifest_base_url_mismatch")
    assert "no remotes entry has the key 'connect'" in line


def test_route_unrouted(manifest, tmp_path):
    manifest["modules"]["endpoint"][3]["route"]["path"] = "/forge/preuninstall"
    lines = lines_of(check(tmp_path, manifest))
    assert lines[0].startswith("manifest_route_unrouted: endpoint 'forge-pre-uninstall'")
    assert "'/forge/preuninstall'" in lines[0]
    # ... and so the routed view has no endpoint:
    assert lines[1].startswith("manifest_route_missing: atlassian_connect_forge:pre_uninstall")
    assert len(lines) == 2


def test_route_missing(manifest, tmp_path):
    manifest["modules"]["endpoint"] = [
        e for e in manifest["modules"]["endpoint"] if e["key"] != "forge-scheduled"
    ]
    del manifest["modules"]["scheduledTrigger"]
    line = only_finding(check(tmp_path, manifest), "manifest_route_missing")
    assert "atlassian_connect_forge:scheduled is routed at /forge/scheduled" in line


def test_route_unrouted_when_the_app_no_longer_serves_forge(manifest, settings, tmp_path):
    settings.ROOT_URLCONF = "tests.adoption.urls_connect_only"
    lines = lines_of(check(tmp_path, manifest))
    assert [line.split(" (", 1)[0].split(" has ")[0] for line in lines] == [
        f"manifest_route_unrouted: endpoint {key!r}"
        for key in ("forge-lifecycle", "forge-scheduled", "forge-events", "forge-pre-uninstall")
    ]


def test_auth_missing(manifest, tmp_path):
    del manifest["modules"]["endpoint"][1]["auth"]
    line = only_finding(check(tmp_path, manifest), "manifest_auth_missing")
    assert "endpoint 'forge-scheduled' (/forge/scheduled)" in line


def test_remote_auth(manifest, tmp_path):
    manifest["remotes"][0]["auth"] = {"appSystemToken": {"enabled": True}}
    line = only_finding(check(tmp_path, manifest), "manifest_remote_auth")
    assert "remote 'connect' has auth" in line
    assert "Move auth to the endpoint entries" in line


def test_remote_auth_is_fine_for_function_calls(manifest, tmp_path):
    manifest["remotes"][0]["auth"] = {"appSystemToken": {"enabled": True}}
    manifest["modules"]["function"] = [{"key": "fn", "handler": "index.run"}]
    assert check(tmp_path, manifest).error is None


def test_scope_missing(manifest, tmp_path):
    manifest["permissions"]["scopes"].remove("act-as-user:connect-jira")
    line = only_finding(check(tmp_path, manifest), "manifest_scope_missing")
    assert line.startswith(
        "manifest_scope_missing: permissions.scopes lacks act-as-user:connect-jira"
    )


def test_event_scope_missing(manifest, tmp_path):
    manifest["permissions"]["scopes"].remove("read:jira-work")
    line = only_finding(check(tmp_path, manifest), "manifest_scope_missing")
    assert "lacks read:jira-work" in line


def test_scope_extra(manifest, tmp_path):
    manifest["permissions"]["scopes"].append("admin:connect-jira")
    line = only_finding(check(tmp_path, manifest), "manifest_scope_extra")
    assert "has admin:connect-jira" in line


def test_scope_check_reads_the_map_form(manifest, tmp_path):
    data = copy.deepcopy(manifest)
    data["permissions"]["scopes"] = {s: {} for s in manifest["permissions"]["scopes"]}
    assert check(tmp_path, data).error is None
    del data["permissions"]["scopes"]["read:connect-jira"]
    only_finding(check(tmp_path, data), "manifest_scope_missing")


def test_several_mismatches_one_line_each_in_a_fixed_order(manifest, tmp_path):
    manifest["app"]["connect"]["key"] = "other"
    manifest["remotes"][0]["auth"] = {"appUserToken": {"enabled": True}}
    manifest["permissions"]["scopes"].append("delete:connect-jira")
    codes = [line.split(":", 1)[0] for line in lines_of(check(tmp_path, manifest))]
    assert codes == [
        "manifest_connect_key_mismatch",
        "manifest_remote_auth",
        "manifest_scope_extra",
    ]


def test_every_check_code_is_registered_with_a_fix():
    check_codes = [c for c in ADOPTION if c.startswith("manifest_")]
    assert len(check_codes) == 12
    for code in check_codes:
        assert CODES[code].hint and CODES[code].status == 0
