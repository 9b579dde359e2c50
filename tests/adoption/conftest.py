"""Fixtures of the adoption tests: Atlassian's manifest validator, settings, URLconfs.

The oracle is ``@forge/manifest`` (the package ``forge lint`` uses), pinned in
``validator/package-lock.json`` and installed once per session with ``npm ci``.
Without node and npm the tests that need it are skipped with the reason, except
under ``CI=true``, where a missing validator is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

VALIDATOR_DIR = Path(__file__).resolve().parent / "validator"
REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "example_project" / "manage.py"
APP_UUID = "0f6a1e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
APP_ARI = f"ari:cloud:ecosystem::app/{APP_UUID}"

Validate = Callable[[Path], list[dict[str, Any]]]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="session")
def forge_validator() -> Iterator[Validate]:
    """``validate(path) -> [error, ...]`` with @forge/manifest's full validation."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        reason = "node and npm are needed to run Atlassian's manifest validator (@forge/manifest)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true this is a failure, not a skip")
        pytest.skip(reason)
    installed = _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VALIDATOR_DIR)
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    # One validator process for the session: Atlassian's schemas compile once (seconds),
    # then each manifest takes milliseconds. A manifest variable is never set from here.
    env = {k: v for k, v in os.environ.items() if k != "CONNECT_KEY"}
    server = subprocess.Popen(
        [node, str(VALIDATOR_DIR / "validate.js"), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdin is not None and server.stdout is not None

    def validate(path: Path) -> list[dict[str, Any]]:
        server.stdin.write(f"{path}\n")
        server.stdin.flush()
        line = server.stdout.readline()
        assert line, f"validate.js --serve stopped (exit {server.poll()})"
        return json.loads(line)["errors"]

    try:
        yield validate
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def node_script(forge_validator: Validate) -> Callable[[str], Any]:
    """Run a line of node in the validator folder (after npm ci) and parse its JSON output."""

    def run(code: str) -> Any:
        done = _run(["node", "-e", code], cwd=VALIDATOR_DIR)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


@pytest.fixture
def configure(settings: Any) -> Callable[..., dict[str, Any]]:
    """``configure(**values)``: ATLASSIAN_CONNECT with these values (``None`` removes one)."""

    def configure(**values: Any) -> dict[str, Any]:
        conf = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": APP_UUID, "FORGE_PRODUCT": "jira"}
        for name, value in values.items():
            if value is None:
                conf.pop(name, None)
            else:
                conf[name] = value
        settings.ATLASSIAN_CONNECT = conf
        return conf

    configure()
    return configure


@pytest.fixture
def full_urls(settings: Any) -> None:
    """Every Forge view routed: lifecycle, scheduled, events, pre_uninstall."""
    settings.ROOT_URLCONF = "tests.adoption.urls"


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[str | dict[str, Any]], Path]:
    def write(content: str | dict[str, Any], name: str = "manifest.yml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write
