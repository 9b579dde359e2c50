"""The server benchmark's settings: what runs, how long, and the targets."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    ROOT,
)

SECONDS = int(os.environ.get("BENCH_SERVERS_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_SERVERS_ROUNDS", "5"))
PROFILE_SECONDS = int(os.environ.get("BENCH_SERVERS_PROFILE_SECONDS", "8"))
CONNECTIONS = 32
POOL_SIZE = 5000  # > VERIFIED_TOKEN_CACHE_SIZE (1024): round robin, every one a miss
WARM_SECONDS = 1
OUT_DIR = ROOT / "docs" / "_generated"
WRK_POOL = ROOT / "benchmarks" / "wrk" / "pool.lua"
EXAMPLE = ROOT / "example_project"
#: py-spy from the bench extra: on PATH, or beside this Python (a venv not activated).
PY_SPY = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))

RECOMMENDED = "granian-wsgi"
#: ours / ACE on the recommended server (fixed tokens); the new-token rows are reported.
TARGETS = {"hello": 1.5, "me": 1.4}
#: 1 - authenticated / twin, every authenticated row.
OVERHEAD_TARGET = 0.10

ENDPOINTS = ("hello", "hello_fresh", "hello_open", "me", "me_fresh", "me_open")
ENDPOINT_LABELS = {
    "hello": "``/hello``, one page token",
    "hello_fresh": "``/hello``, a new page token per request",
    "hello_open": "``/hello-open``, its unauthenticated twin",
    "me": "``/api/me``, one context token",
    "me_fresh": "``/api/me``, a new context token per request",
    "me_open": "``/api/me-open``, its unauthenticated twin",
}
TWINS = {"hello": "hello_open", "hello_fresh": "hello_open", "me": "me_open", "me_fresh": "me_open"}
#: Each twin measured right after (or before) the rows it is the twin of.
MEASURE_ORDER = ("hello", "hello_open", "hello_fresh", "me", "me_open", "me_fresh")


# -- the servers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    label: str
    #: port -> the command serving the example project (cwd: example_project/)
    command: Callable[[int], list[str]]
    package: str  # whose version the page names


def _gunicorn(worker_class: str, threads: int) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        args = [
            sys.executable, "-m", "gunicorn",
            "--workers", "1", "--worker-class", worker_class, "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning",
        ]  # fmt: skip
        if Path("/dev/shm").is_dir():  # noqa: S108 - gunicorn's advice: no disk heartbeat
            args += ["--worker-tmp-dir", "/dev/shm"]  # noqa: S108
        return [*args, "example_project.wsgi:application"]

    return command


def _serve_py(port: int) -> list[str]:
    # The recommended command itself; migrations already ran on the shared database.
    return [
        sys.executable, str(EXAMPLE / "serve.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-migrate",
    ]  # fmt: skip


def _granian_asgi(port: int) -> list[str]:
    return [
        sys.executable, "-m", "granian",
        "--interface", "asginl", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--runtime-threads", "1", "--http", "1", "--no-ws",
        "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "example_project.asgi:application",
    ]  # fmt: skip


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "example_project.asgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--lifespan", "off",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


SERVERS: dict[str, Server] = {
    "gunicorn-sync": Server("gunicorn, sync worker", _gunicorn("sync", 1), "gunicorn"),
    "gunicorn-gthread": Server(
        "gunicorn, gthread worker, 4 threads", _gunicorn("gthread", 4), "gunicorn"
    ),
    RECOMMENDED: Server("granian, WSGI, 4 threads (``serve.py``)", _serve_py, "granian"),
    "granian-asgi": Server("granian, ASGI (sync views in a thread)", _granian_asgi, "granian"),
    "uvicorn": Server("uvicorn, ASGI (sync views in a thread)", _uvicorn, "uvicorn"),
}
ACE = "ace"
