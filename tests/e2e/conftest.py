"""Run the example project as a real server on 127.0.0.1 (migrate + runserver)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from django_atlassian_connect.testing import InstallKeyPair, InstallKeyServer

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "example_project" / "manage.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ExampleApp:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    manage_py: Path = MANAGE

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(self.manage_py), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_example_app(
    tmp_path: Path,
    key_server_url: str,
    extra_env: dict[str, str] | None = None,
    *,
    server: str = "runserver",
    workers: int = 2,
    threads: int = 32,
    manage_py: Path = MANAGE,
) -> ExampleApp:
    """Migrate, then serve the example project (or the project of ``manage_py``) on a free port.

    ``server="runserver"`` (default): Django's threaded development server.
    ``server="gunicorn"``: ``workers`` processes with ``threads`` threads each
    and a production-sized accept backlog (runserver's is 10 connections).
    ``server="uvicorn"``: the ASGI application under uvicorn (async views
    run natively).
    """
    if server not in ("runserver", "gunicorn", "uvicorn"):
        raise ValueError("server is 'runserver', 'gunicorn' or 'uvicorn'")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CONNECT_BASE_URL": base_url,
        "CONNECT_INSTALL_KEYS_URL": key_server_url,
        "CONNECT_AUTHORIZATION_SERVER_URL": "http://127.0.0.1:9/oauth",
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "*.atlassian.net,127.0.0.1",
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("CELERY_BROKER_URL", None)
    # The example project gets its own database: SQLite, or CONNECT_E2E_DATABASE_URL (CI).
    env["DATABASE_URL"] = (
        os.environ.get("CONNECT_E2E_DATABASE_URL") or f"sqlite:///{tmp_path / 'example.sqlite3'}"
    )
    if extra_env:
        env.update(extra_env)
    migrate = subprocess.run(
        [sys.executable, str(manage_py), "migrate", "--noinput"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    log_path = tmp_path / "runserver.log"
    log = log_path.open("w")
    if server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "example_project.wsgi:application",
            "--chdir",
            str(MANAGE.parent),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--backlog",
            "2048",
            "--graceful-timeout",
            "5",
            "--error-logfile",
            "-",
        ]
    elif server == "uvicorn":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "example_project.asgi:application",
            "--app-dir",
            str(MANAGE.parent),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ]
    else:
        command = [sys.executable, str(manage_py), "runserver", "--noreload", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("runserver exited:\n" + log_path.read_text())
        try:
            requests.get(f"{base_url}/atlassian-connect.json", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError("runserver did not start:\n" + log_path.read_text())
    return ExampleApp(
        base_url=base_url, env=env, process=process, log_path=log_path, manage_py=manage_py
    )


def start_celery_worker(
    app: ExampleApp, broker_url: str, log_path: Path, *, timeout: float = 60
) -> tuple[subprocess.Popen, dict[str, str]]:
    """A Celery worker (one task at a time) for ``app`` on ``broker_url``, once it is ready.

    The broker is also the result backend. Returns the worker and its
    environment (``manage.py shell`` with it sends tasks to the same broker).
    """
    env = {
        **app.env,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "example_project"), str(ROOT)]),
    }
    command = ["celery", "-A", "example_project", "worker", "--pool=solo", "--loglevel=INFO"]
    worker = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT / "example_project",
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while "ready" not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise AssertionError("the Celery worker did not start:\n" + log_path.read_text())
        time.sleep(0.3)
    return worker, env


@pytest.fixture(scope="module")
def e2e_install_key() -> InstallKeyPair:
    return InstallKeyPair()


@pytest.fixture(scope="module")
def e2e_key_server(e2e_install_key: InstallKeyPair) -> Iterator[InstallKeyServer]:
    with InstallKeyServer(e2e_install_key) as server:
        yield server


@pytest.fixture(scope="module")
def example_app(
    tmp_path_factory: pytest.TempPathFactory, e2e_key_server: InstallKeyServer
) -> Iterator[ExampleApp]:
    app = start_example_app(tmp_path_factory.mktemp("example"), e2e_key_server.url)
    try:
        yield app
    finally:
        app.process.terminate()
        try:
            app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.process.kill()


def forge_env(forge: Any, min_refresh: int = 60) -> dict[str, str]:
    """The example project's environment for a simulated Forge platform."""
    return {
        "CONNECT_FORGE_APP_ID": forge.app_id,
        "CONNECT_FORGE_JWKS_URL": forge.jwks_url,
        "CONNECT_FORGE_API_HOSTS": ",".join(forge.api_hosts),
        "CONNECT_FORGE_JWKS_MIN_REFRESH": str(min_refresh),
    }


def stop(app: ExampleApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        app.process.kill()


@contextlib.contextmanager
def forge_example_app(workdir: Path, site: Any, forge: Any) -> Iterator[ExampleApp]:
    """The example project on 127.0.0.1, installed into nothing yet, wired to the simulated
    Connect ``site`` (install keys, authorization server) and Forge platform ``forge``
    (whose remote it becomes); stopped on exit."""
    env = {"CONNECT_AUTHORIZATION_SERVER_URL": site.url, **forge_env(forge)}
    example = start_example_app(workdir, site.keys_url, env)
    forge.remote_base_url = example.base_url
    try:
        yield example
    finally:
        stop(example)
