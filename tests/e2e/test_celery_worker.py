"""A real Celery worker (Redis broker) runs our tasks for the example project.

Skipped, with the reason shown, when no Redis is reachable; `.ci/run` starts one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time

import pytest

from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import MANAGE, start_celery_worker, start_example_app

pytestmark = pytest.mark.e2e

REDIS_URL = (
    os.environ.get("CONNECT_TEST_REDIS_URL")
    or os.environ.get("CELERY_BROKER_URL")
    or "redis://127.0.0.1:6379/1"
)


def redis_available() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def worker_setup(tmp_path_factory):
    if not redis_available():
        pytest.skip(f"no Redis broker reachable at {REDIS_URL} (.ci/run starts one)")
    tmp = tmp_path_factory.mktemp("celery")
    host = ConnectHost().start()
    app = start_example_app(
        tmp,
        host.keys_url,
        extra_env={
            "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
            "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        },
    )
    log_path = tmp / "worker.log"
    try:
        host.install(app.base_url + "/atlassian-connect.json")
        worker, env = start_celery_worker(app, REDIS_URL, log_path)
    except BaseException:
        app.process.terminate()
        host.stop()
        raise
    try:
        yield host, app, env, log_path
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        app.process.terminate()
        app.process.wait(timeout=10)
        host.stop()


def run_task(env, code: str) -> str:
    result = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_worker_verifies_installations_against_the_site(worker_setup):
    host, _app, env, log_path = worker_setup
    calls_before = len([e for e in host.log if e.get("path") == "/rest/api/3/myself"])
    out = run_task(
        env,
        "from django_atlassian_connect.tasks import verify_installations as t; "
        "print(t.delay().get(timeout=60))",
    )
    # On a worker the task fans out: one chunk task per HOUSEKEEPING_CHUNK_SIZE tenants
    # (the e2e database may hold other suites' tenants too: CI shares one on PostgreSQL).
    result = ast.literal_eval(out)
    assert result["dispatched"] >= 1 and result["chunks"] >= 1, result
    deadline = time.monotonic() + 60
    calls = lambda: len([e for e in host.log if e.get("path") == "/rest/api/3/myself"])  # noqa: E731
    while calls() < calls_before + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert calls() == calls_before + 1  # the one installation, verified once
    log = log_path.read_text()
    assert "django_atlassian_connect.verify_installations_chunk" in log  # the worker ran it


def test_worker_purges_and_refreshes(worker_setup):
    _host, _app, env, log_path = worker_setup
    out = run_task(
        env,
        "from django_atlassian_connect.tasks import purge_retired_secrets as t; print(t.delay().get(timeout=60))",
    )
    assert out == "0"
    out = run_task(
        env,
        "from django_atlassian_connect.tasks import refresh_access_tokens as t; print(t.delay().get(timeout=60))",
    )
    # Fanned out (the shared e2e database may hold other suites' tokens).
    assert set(ast.literal_eval(out)) == {"dispatched", "chunks"}, out
    assert "django_atlassian_connect.purge_retired_secrets" in log_path.read_text()
