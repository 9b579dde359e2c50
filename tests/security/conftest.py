"""Start the example project as a real server, each on its own database; seed the test
database with real secrets (``vault``) and capture every log record (``all_logs``)."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ExampleApp, start_example_app
from tests.security.support import AppDatabase, app_database_url
from tests.security.vault import Vault, fill_vault


def pytest_configure(config: pytest.Config) -> None:
    """``-m fuzz`` (selecting the fuzz tests) runs them with many more examples."""
    markexpr = getattr(config.option, "markexpr", "") or ""
    if "fuzz" in markexpr and "not fuzz" not in markexpr:
        os.environ.setdefault("HYPOTHESIS_PROFILE", "fuzz")


class RunningApp:
    """An example-project server and direct access to its database."""

    def __init__(self, app: ExampleApp, db: AppDatabase) -> None:
        self.app = app
        self.db = db
        self.base_url = app.base_url
        self.env = app.env

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return self.app.manage(*args)

    def log(self) -> str:
        return self.app.log()

    def shell(self, code: str) -> str:
        result = self.app.manage("shell", "-c", code)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout


@pytest.fixture(scope="module")
def app_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningApp]]:
    """``app_factory(label, key_server_url, server=..., **env)`` starts an example app.

    Each app gets a fresh database; apps are stopped and their databases
    dropped at the end of the module.
    """
    started: list[tuple[ExampleApp, Any]] = []

    def start(
        label: str, key_server_url: str, *, server: str = "runserver", **env: str
    ) -> RunningApp:
        tmp: Path = tmp_path_factory.mktemp(label)
        handle = app_database_url(tmp, label)
        try:
            app = start_example_app(
                tmp, key_server_url, {"DATABASE_URL": handle.url, **env}, server=server
            )
        except BaseException:
            handle.drop()
            raise
        started.append((app, handle))
        return RunningApp(app, AppDatabase(handle.url))

    yield start
    for app, handle in started:
        app.process.terminate()
        try:
            app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait(timeout=10)
        handle.drop()


@pytest.fixture
def _quick_password_hashing(settings: Any) -> None:
    # linked_user sets a password: the default hasher alone would double each vault's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def vault(
    _quick_password_hashing: None,
    connect_host: Any,
    connect_tenant: Any,
    forge_host: Any,
    linked_user: Any,
) -> Vault:
    """The database seeded with real secrets of every kind (``tests/security/vault.py``)."""
    return fill_vault(connect_host, connect_tenant, forge_host, linked_user)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record from here on, at DEBUG, SQL with its parameters included."""
    from django.db import connection

    caplog.clear()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own default is INFO
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = debug_cursor
