"""The plugin's ``connect_on_forge`` in a project other than the example one.

``other_project/`` is a small Django project of its own (settings, URLconf,
views, pytest.ini); its test (``check_connect_on_forge.py``) runs in a pytest
subprocess that loads the plugin by name, as a project's ``-p`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "other_project"


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "otherproject.settings",
        "PYTHONPATH": str(PROJECT),
        # Only the plugins named below: the entry points would load ours a second time.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_django.plugin",
            "-p",
            "django_atlassian_connect.testing.pytest_plugin",
            "-q",
            *args,
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_connect_on_forge_links_and_resolves_in_another_project():
    result = run_pytest("check_connect_on_forge.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_other_projects_test_can_fail(tmp_path):
    """The same check against a site whose install does not name the installation fails."""
    (tmp_path / "check_unlinked.py").write_text(
        (PROJECT / "check_connect_on_forge.py").read_text() + "\n\n"
        "def test_without_the_installation_id(connect_on_forge, monkeypatch):\n"
        "    from django_atlassian_connect.models import ForgeInstallation\n"
        "    ForgeInstallation.objects.update(tenant=None, link_method='')\n"
        "    test_one_site_installed_both_ways(connect_on_forge)\n"
    )
    result = run_pytest(str(tmp_path / "check_unlinked.py"), "--rootdir", str(PROJECT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "assert None == " in result.stdout  # the unlinked row's tenant_id
