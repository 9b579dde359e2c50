"""End to end: requests/s of /api/me (context token) vs an unauthenticated twin, gunicorn 2 workers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DURATION = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load(url: str, headers: dict[str, str], seconds: int) -> float:
    """Requests per second with wrk (2 threads, 8 connections)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is needed for the end-to-end benchmark: apt-get install wrk")
    args = [wrk, "-t2", "-c8", f"-d{seconds}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def run(seconds: int = DURATION) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from django_atlassian_connect.testing.host import ConnectHost

    tmp = Path(tempfile.mkdtemp(prefix="dac-bench-e2e-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    host = ConnectHost().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "example_project"), str(ROOT)]),
        "CONNECT_BASE_URL": base,
        "CONNECT_INSTALL_KEYS_URL": host.keys_url,
        "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp / 'e2e.sqlite3'}",
        "DJANGO_DEBUG": "0",
    }
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run(
        [sys.executable, str(ROOT / "example_project/manage.py"), "migrate", "-v0"],
        env=env,
        check=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "example_project.wsgi:application",
        ],
        env=env,
        cwd=ROOT / "example_project",
    )
    try:
        for _ in range(100):
            try:
                requests.get(base + "/atlassian-connect.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        host.install(base + "/atlassian-connect.json")
        account = next(iter(host.accounts))
        token = host.context_token(account, lifetime=3600)
        auth = {"Authorization": f"JWT {token}"}
        me = requests.get(base + "/api/me", headers=auth, timeout=5)
        assert me.status_code == 200, me.text
        for _ in range(50):  # warm both workers
            requests.get(base + "/api/me", headers=auth, timeout=5)
        # The twin gets the same headers: the difference is the authentication, not
        # the parsing of a longer request.
        open_rps = load(base + "/api/me-open", auth, seconds)
        auth_rps = load(base + "/api/me", auth, seconds)
        open_rps_2 = load(base + "/api/me-open", auth, seconds)
    finally:
        server.terminate()
        server.wait(timeout=10)
        host.stop()
    open_avg = (open_rps + open_rps_2) / 2
    return {"auth_rps": auth_rps, "open_rps": open_avg, "ratio": auth_rps / open_avg}


if __name__ == "__main__":
    print(run())
