"""The oracle can fail: Atlassian's validator refuses what Forge refuses."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from tests.adoption.conftest import VALIDATOR_DIR
from tests.adoption.support import generate, save

pytestmark = pytest.mark.django_db


@pytest.fixture
def good(configure, full_urls):
    configure(DESCRIPTOR={"modules": {"webhooks": [{"event": "jira:issue_created", "url": "/h"}]}})
    return generate().manifest


def messages(forge_validator, tmp_path, data) -> list[str]:
    return [e["message"] for e in forge_validator(save(tmp_path, yaml.safe_dump(data)))]


def test_the_pinned_version_is_installed(forge_validator):
    lock = json.loads((VALIDATOR_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@forge/manifest"]["version"] == "13.7.0"
    package = json.loads((VALIDATOR_DIR / "package.json").read_text())
    assert package["dependencies"]["@forge/manifest"] == "13.7.0"  # exact, no range
    installed = VALIDATOR_DIR / "node_modules" / "@forge" / "manifest" / "package.json"
    assert json.loads(installed.read_text())["version"] == "13.7.0"


def test_the_cli_prints_the_errors_and_exits_1(good, tmp_path, forge_validator):
    del good["app"]["runtime"]
    path = save(tmp_path, yaml.safe_dump(good))
    done = subprocess.run(
        [shutil.which("node") or "node", str(VALIDATOR_DIR / "validate.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "app must have required property 'runtime'" in [
        e["message"] for e in json.loads(done.stdout)
    ]


def test_an_unknown_connect_module_is_refused(good, tmp_path, forge_validator):
    good["connectModules"]["jira:bogusPages"] = [{"key": "b"}]
    assert "invalid value 'jira:bogusPages' in connectModules" in messages(
        forge_validator, tmp_path, good
    )


def test_two_lifecycle_items_are_refused(good, tmp_path, forge_validator):
    good["connectModules"]["jira:lifecycle"].append({"key": "second", "installed": "/x"})
    assert any("lifecycle" in m for m in messages(forge_validator, tmp_path, good))


def test_an_event_without_its_scope_is_refused(good, tmp_path, forge_validator):
    good["permissions"]["scopes"].remove("read:jira-work")
    assert "Trigger event: 'avi:jira:created:issue' requires 'read:jira-work' scope" in messages(
        forge_validator, tmp_path, good
    )


def test_a_connect_key_variable_must_be_declared(good, tmp_path, forge_validator):
    good["app"]["connect"]["key"] = "${CONNECT_KEY}"
    assert messages(forge_validator, tmp_path, good)  # the literal ${...} is no key
