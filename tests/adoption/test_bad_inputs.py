"""Each bad input: non-zero exit, the cause and the fix, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from django_atlassian_connect.codes import CODES
from tests.adoption.conftest import MANAGE
from tests.adoption.support import failing, forge_manifest

pytestmark = pytest.mark.django_db

OLD = "# the manifest from before\napp: {}\n"


@pytest.fixture
def target(tmp_path):
    """An existing --output file that must stay untouched."""
    path = tmp_path / "manifest.yml"
    path.write_text(OLD)
    return path


def assert_untouched(target):
    assert target.read_text() == OLD
    assert sorted(p.name for p in target.parent.iterdir()) == ["manifest.yml"]


def test_no_app_id(configure, full_urls, target):
    configure(FORGE_APP_ID=None)
    message = failing("--output", str(target))
    assert message.startswith("adoption_app_id_missing: ")
    assert 'ATLASSIAN_CONNECT["FORGE_APP_ID"] is not set' in message
    assert "forge register" in message  # the fix
    assert_untouched(target)


def test_no_app_id_writes_nothing_to_stdout_either(configure, full_urls):
    configure(FORGE_APP_ID=[])
    run = forge_manifest()
    assert run.error is not None and run.out == ""


def test_an_app_id_that_is_not_one(configure, full_urls, target):
    configure(FORGE_APP_ID="my-app")
    message = failing("--output", str(target))
    assert message.startswith("adoption_app_id_invalid: ") and "'my-app'" in message
    assert_untouched(target)


def test_unknown_module_type(configure, full_urls, target):
    configure(DESCRIPTOR={"modules": {"generalPages": [], "jiraMagicPanels": [{"key": "x"}]}})
    message = failing("--output", str(target))
    assert message.startswith("adoption_module_unsupported: ")
    assert "jiraMagicPanels" in message and "jira:jiraMagicPanels" in message
    assert CODES["adoption_module_unsupported"].hint in message
    assert_untouched(target)


def test_a_module_of_the_other_product(configure, full_urls, target):
    configure(DESCRIPTOR={"modules": {"dynamicContentMacros": [{"key": "m"}]}})
    message = failing("--output", str(target), "--product", "jira")
    assert "dynamicContentMacros" in message and "for jira" in message
    assert_untouched(target)


def test_unknown_scope(configure, full_urls, target):
    configure(SCOPES=["READ", "SUPERPOWERS"])
    message = failing("--output", str(target))
    assert message.startswith("adoption_scope_unknown: ") and "'SUPERPOWERS'" in message
    assert_untouched(target)


def test_no_product(configure, full_urls, target):
    configure(FORGE_PRODUCT=None)
    message = failing("--output", str(target))
    assert message.startswith("adoption_product_missing: ")
    assert "--product jira" in message and "FORGE_PRODUCT" in message
    assert_untouched(target)


def test_a_product_setting_that_is_not_one(configure, full_urls, target):
    configure(FORGE_PRODUCT="bitbucket")
    message = failing("--output", str(target))
    assert message.startswith("adoption_product_invalid: ") and "'bitbucket'" in message
    assert_untouched(target)


def test_duplicate_or_reserved_module_keys(configure, full_urls, target):
    pages = [{"key": "page", "url": "/a"}, {"key": "page", "url": "/b"}]
    configure(DESCRIPTOR={"modules": {"generalPages": pages}})
    assert "'page' of a generalPages module is used twice" in failing("--output", str(target))
    configure(DESCRIPTOR={"modules": {"generalPages": [{"key": "forge-lifecycle", "url": "/"}]}})
    assert "is a key forge_manifest uses itself" in failing("--output", str(target))
    assert_untouched(target)


def test_modules_that_are_not_lists(configure, full_urls, target):
    configure(DESCRIPTOR={"modules": {"generalPages": "hello"}})
    assert failing("--output", str(target)).startswith("adoption_descriptor_invalid: ")
    assert_untouched(target)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("FORGE_RUNTIME", "nodejs18.x", "nodejs22.x"),
        ("FORGE_REMOTE_KEY", "a remote with spaces", "1-23 letters"),
        ("FORGE_REGIONS", {"MARS": "https://mars.example.com"}, "'MARS'"),
        ("FORGE_REGIONS", {"EU": "eu.example.com"}, "'eu.example.com'"),
    ],
)
def test_settings_forge_does_not_accept(configure, full_urls, target, setting, value, named):
    configure(**{setting: value})
    message = failing("--output", str(target))
    assert message.startswith("adoption_setting_invalid: ")
    assert f'ATLASSIAN_CONNECT["{setting}"]' in message and named in message
    assert_untouched(target)


def test_a_variable_name_that_is_not_one(configure, full_urls, target):
    message = failing("--output", str(target), "--connect-key-variable", "1-KEY")
    assert message.startswith("adoption_variable_invalid: ") and "'1-KEY'" in message
    assert_untouched(target)


def test_an_output_that_cannot_be_written(configure, full_urls, tmp_path):
    message = failing("--output", str(tmp_path / "missing-dir" / "manifest.yml"))
    assert message.startswith("adoption_output_failed: ")
    assert "the target file is unchanged" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "code", "cause"),
    [
        ("app: [unclosed\n  id: x\n", "manifest_invalid", "is not valid YAML (line"),
        ("- app\n- remotes\n", "manifest_not_mapping", "holds a list, not a mapping"),
        ("just a string\n", "manifest_not_mapping", "holds a str, not a mapping"),
        ("", "manifest_not_mapping", "holds a NoneType"),
    ],
)
@pytest.mark.parametrize("mode", ["--check", "--status"])
def test_a_manifest_that_cannot_be_used(configure, full_urls, tmp_path, content, code, cause, mode):
    path = tmp_path / "manifest.yml"
    path.write_text(content)
    message = failing(mode, str(path))
    assert message.startswith(f"{code}: ") and cause in message
    assert CODES[code].hint in message
    assert path.read_text() == content


@pytest.mark.parametrize("mode", ["--check", "--status"])
def test_a_missing_manifest(configure, full_urls, tmp_path, mode):
    message = failing(mode, str(tmp_path / "nope.yml"))
    assert message.startswith("manifest_missing: ") and "No such file or directory" in message
    assert "--output PATH" in message
    assert not (tmp_path / "nope.yml").exists()


def test_check_and_output_do_not_mix(configure, full_urls, tmp_path):
    message = failing("--check", str(tmp_path / "m.yml"), "--output", str(tmp_path / "o.yml"))
    assert "--output and --connect-key-variable write a manifest" in message
    assert list(tmp_path.iterdir()) == []


def test_from_the_shell_an_error_is_one_line_and_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECT_", "DJANGO_"))}
    env["DATABASE_URL"] = "sqlite:///:memory:"
    done = subprocess.run(
        [sys.executable, str(MANAGE), "forge_manifest", "--product", "jira"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("CommandError: adoption_app_id_missing: ")
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, str(MANAGE), "forge_manifest", "--check", str(tmp_path / "x.yml")],
        env={**env, "CONNECT_FORGE_APP_ID": "0f6a1e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("CommandError: manifest_missing: ")


def test_a_failed_rename_leaves_the_old_file_and_no_temp_file(
    configure, full_urls, target, monkeypatch
):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    message = failing("--output", str(target))
    assert message.startswith("adoption_output_failed: ") and "Permission denied" in message
    assert_untouched(target)
