"""The soak's own PostgreSQL cluster and Redis server on 127.0.0.1, stopped and started at will.

Its own, on free ports, so that stopping them disturbs no other user of the
machine's PostgreSQL and Redis (``.ci/services`` starts those):

- PostgreSQL: a Debian cluster made with ``pg_createcluster`` (root, or sudo as
  ``.ci/services`` uses), stopped and started with ``pg_ctlcluster`` (``stop``
  is the fast shutdown: open sessions are ended), dropped at the end.
- Redis: a ``redis-server`` child process run as ``.ci/services`` runs it
  (nothing persisted, so a restart comes back empty), stopped with
  ``redis-cli shutdown nosave``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from benchmarks.common import free_port

SUDO = [] if os.geteuid() == 0 else ["sudo"]
PG_ROOT = Path("/usr/lib/postgresql")


def run(command: list[str], timeout: float = 120) -> str:
    """Run ``command``; its stdout, or ``RuntimeError`` with what it printed."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def as_postgres(*command: str) -> list[str]:
    return (
        ["runuser", "-u", "postgres", "--", *command]
        if not SUDO
        else [*SUDO, "-u", "postgres", *command]
    )


def why_not() -> str | None:
    """Why the services cannot be run here, or ``None``."""
    missing = [
        name
        for name in ("pg_createcluster", "pg_ctlcluster", "redis-server", "redis-cli")
        if not shutil.which(name)
    ]
    if missing or not PG_ROOT.is_dir():
        return f"missing {', '.join(missing) or PG_ROOT}: `.ci/services start` installs PostgreSQL and Redis"
    return None


def wait_until(ready: Callable[[], bool], what: str, timeout: float) -> float:
    """Seconds until ``ready()`` is true, polled every 50 ms; ``RuntimeError`` after ``timeout``."""
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what} is not up after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


class PostgresCluster:
    """A cluster of the newest installed PostgreSQL, named after this process."""

    def __init__(self) -> None:
        self.version = sorted((p.name for p in PG_ROOT.iterdir()), key=float)[-1]
        self.name = f"dac_soak_{os.getpid()}"
        self.port = free_port()

    def url(self, database: str = "soak") -> str:
        return f"postgres://postgres:postgres@127.0.0.1:{self.port}/{database}"

    def create(self) -> Self:
        run(
            [
                *SUDO,
                "pg_createcluster",
                self.version,
                self.name,
                "--port",
                str(self.port),
                "--start",
            ]
        )
        psql = as_postgres("psql", "-p", str(self.port), "-q", "-c")
        run([*psql, "ALTER USER postgres PASSWORD 'postgres'"])
        run([*psql, "CREATE DATABASE soak"])
        return self

    def accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=1).close()
        except psycopg.Error:
            return False
        return True

    def stop(self) -> None:
        run([*SUDO, "pg_ctlcluster", self.version, self.name, "stop"])

    def start(self) -> float:
        """Start it; the seconds until it accepts connections."""
        started = time.monotonic()
        run([*SUDO, "pg_ctlcluster", self.version, self.name, "start"])
        wait_until(self.accepts, "PostgreSQL", 60)
        return time.monotonic() - started

    def drop(self) -> None:
        subprocess.run(
            [*SUDO, "pg_dropcluster", "--stop", self.version, self.name],
            capture_output=True,
            timeout=120,
        )


class RedisServer:
    """``redis-server`` on a free port, in the foreground of a child process."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )

    def accepts(self) -> bool:
        return self.cli("ping").stdout.strip() == "PONG"

    def start(self) -> float:
        """Start it; the seconds until it answers PING."""
        started = time.monotonic()
        # As .ci/services runs it: nothing saved, so a restart comes back empty.
        persistence = ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), *persistence],
            stdout=self.log_path.open("a"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self.accepts, "Redis", 30)
        return time.monotonic() - started

    def stop(self) -> None:
        self.cli("shutdown", "nosave")
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
