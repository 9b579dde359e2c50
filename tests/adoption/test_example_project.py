"""The example project's manifest passes the validator, and the docs show exactly that one."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.adoption.conftest import APP_UUID, MANAGE, REPO

DOCS_SAMPLE = REPO / "docs" / "_generated" / "example-manifest.yml"
#: The environment the docs sample is generated with (public-looking, fixed values).
DOCS_ENV = {
    "CONNECT_BASE_URL": "https://connect-demo.example.com",
    "CONNECT_FORGE_APP_ID": APP_UUID,
    "CONNECT_FORGE_PRODUCT": "jira",
}
REGENERATE = (
    "CONNECT_BASE_URL=https://connect-demo.example.com "
    f"CONNECT_FORGE_APP_ID={APP_UUID} CONNECT_FORGE_PRODUCT=jira "
    "python example_project/manage.py forge_manifest --output docs/_generated/example-manifest.yml"
)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``example_project/manage.py *args`` with only the given CONNECT_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECT_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env={**clean, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_projects_manifest_passes_the_validator(tmp_path, forge_validator):
    output = tmp_path / "manifest.yml"
    done = manage(
        "forge_manifest",
        "--product",
        "jira",
        "--output",
        str(output),
        CONNECT_FORGE_APP_ID=APP_UUID,
    )
    assert done.returncode == 0, done.stderr
    assert forge_validator(output) == []
    text = output.read_text()
    assert "key: com.example.django-connect-demo" in text
    assert "baseUrl: http://127.0.0.1:8000" in text  # the example project's default BASE_URL
    assert "jira:generalPages:" in text and "route:\n        path: /forge/lifecycle" in text
    checked = manage("forge_manifest", "--check", str(output), CONNECT_FORGE_APP_ID=APP_UUID)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == f"{output} matches the settings and the URLconf."


def test_the_docs_sample_is_generated_and_valid(tmp_path, forge_validator):
    output = tmp_path / "example-manifest.yml"
    done = manage("forge_manifest", "--output", str(output), **DOCS_ENV)
    assert done.returncode == 0, done.stderr
    assert DOCS_SAMPLE.read_text() == output.read_text(), (
        f"{DOCS_SAMPLE.relative_to(REPO)} is not what forge_manifest writes today; "
        f"regenerate it: {REGENERATE}"
    )
    assert forge_validator(DOCS_SAMPLE) == []


def test_the_regenerate_command_is_the_one_the_guide_gives():
    guide = (REPO / "docs" / "guides" / "forge-manifest.rst").read_text()
    assert " ".join(guide.split()).count(REGENERATE) == 1
