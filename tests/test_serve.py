"""``python example_project/serve.py``: the example project under its production server.

The contract (``docs/deployment.rst``): ``--bind HOST:PORT --workers N``, the
environment of ``manage.py``, migrations first unless ``--no-migrate``, and on
SIGTERM every worker stopped and exit 0.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVE = ROOT / "example_project" / "serve.py"


def load_serve():
    spec = importlib.util.spec_from_file_location("example_serve", SERVE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_bind_workers_and_threads_become_granians_options():
    serve = load_serve()
    args = serve.parse_args(["--bind", "0.0.0.0:8123", "--workers", "3", "--threads", "2"])
    command = serve.granian_command(args)
    joined = " ".join(command)
    for option in (
        "--interface wsgi",
        "--host 0.0.0.0",
        "--port 8123",
        "--workers 3",
        "--blocking-threads 2",
        "--no-access-log",
    ):
        assert option in joined
    assert command[-1] == "example_project.wsgi:application"
    with pytest.raises(SystemExit):
        serve.parse_args(["--bind", "8000"])


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker pids from /proc")
def test_serves_the_example_project_and_stops_its_workers_on_sigterm(tmp_path):
    port = free_port()
    database = tmp_path / "serve.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "CONNECT_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    for name in (
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_DEBUG",
        "CELERY_BROKER_URL",
        "CONNECT_CACHE_URL",
    ):
        env.pop(name, None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, str(SERVE), "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env,
            cwd=tmp_path,  # any directory: serve.py finds the project itself
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "serve.py exited:\n" + log_path.read_text()
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/atlassian-connect.json", timeout=2
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nothing answered:\n" + log_path.read_text()
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["baseUrl"] == f"http://127.0.0.1:{port}"
        # Migrations ran first, on the database the environment names.
        with sqlite3.connect(database) as db:
            applied = db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()[0]
        assert applied > 0
        workers = descendants(server.pid)
        assert len(workers) >= 2, f"expected 2 workers, found {workers}"

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=45) == 0, log_path.read_text()
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if alive(pid)], "workers outlived SIGTERM"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
