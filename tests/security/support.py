"""Helpers for the security, concurrency and fault suites.

- :func:`app_database_url` gives each example-project server its own database:
  a fresh PostgreSQL database when ``CONNECT_E2E_DATABASE_URL`` points at a
  PostgreSQL server (``.ci/run`` sets it), else a SQLite file.
- :class:`AppDatabase` reads that database directly (``sqlite3`` or
  ``psycopg``), so a test can prove that a refused request changed no row.
- :class:`KeyCDN` is an install-key server whose faults a test switches on:
  down (nothing listens), slow, an error status, garbage, an oversized answer.
- :class:`TokenEndpoint` is an OAuth token endpoint with the same kind of
  faults (timeout, malformed JSON, 5xx, dropped connection).

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from django_atlassian_connect.testing import InstallKeyPair
from django_atlassian_connect.testing.server import LocalHTTPServer

E2E_DATABASE_URL = os.environ.get("CONNECT_E2E_DATABASE_URL", "")
E2E_ON_POSTGRES = E2E_DATABASE_URL.startswith(("postgres://", "postgresql://"))

#: Tests that need the example project on PostgreSQL. Skipped (with this
#: reason) on SQLite, unless CONNECT_REQUIRE_POSTGRES=1 (.ci/run's PostgreSQL
#: phase), where a missing PostgreSQL is a failure instead.
POSTGRES_REASON = (
    "needs the example project on PostgreSQL: set "
    "CONNECT_E2E_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/connect_e2e "
    "(.ci/run does)"
)


def require_postgres() -> None:
    if E2E_ON_POSTGRES:
        return
    if os.environ.get("CONNECT_REQUIRE_POSTGRES") == "1":
        pytest.fail("CONNECT_REQUIRE_POSTGRES=1 but " + POSTGRES_REASON)
    pytest.skip(POSTGRES_REASON)


postgres_only = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not E2E_ON_POSTGRES and os.environ.get("CONNECT_REQUIRE_POSTGRES") != "1",
        reason=POSTGRES_REASON,
    ),
]

# The example project's tables we compare before and after an attack.
TENANT = "django_atlassian_connect_tenant"
SECRET = "django_atlassian_connect_sharedsecret"
ACCESS_TOKEN = "django_atlassian_connect_accesstoken"
EVENT = "django_atlassian_connect_lifecycleevent"
ISSUE_EVENT = "connect_demo_issueevent"
SNAPSHOT_TABLES = (TENANT, SECRET, ACCESS_TOKEN, ISSUE_EVENT)

JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def fingerprint(secret: str) -> str:
    """The fingerprint the app stores for a secret (``crypto.fingerprint``)."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def new_secret() -> str:
    return "ATCO" + uuid.uuid4().hex + uuid.uuid4().hex


# -- databases -------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _maintenance_connection() -> Any:
    import psycopg

    return psycopg.connect(_with_database(E2E_DATABASE_URL, "postgres"), autocommit=True)


@dataclass
class AppDatabaseHandle:
    url: str
    pg_name: str | None = None

    def drop(self) -> None:
        if self.pg_name is None:
            return
        with _maintenance_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def app_database_url(tmp_path: Path, label: str) -> AppDatabaseHandle:
    """A fresh database for one example-project server."""
    if not E2E_ON_POSTGRES:
        return AppDatabaseHandle(f"sqlite:///{tmp_path / 'example.sqlite3'}")
    base = urlsplit(E2E_DATABASE_URL).path.lstrip("/") or "connect_e2e"
    name = f"{base}_{label}_{uuid.uuid4().hex[:6]}"
    with _maintenance_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return AppDatabaseHandle(_with_database(E2E_DATABASE_URL, name), name)


class AppDatabase:
    """Direct read access to an example-project database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.vendor = "sqlite" if url.startswith("sqlite") else "postgresql"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.vendor == "sqlite":
            conn = sqlite3.connect(urlsplit(self.url).path, timeout=20)
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                yield conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.vendor == "postgresql":
            sql = sql.replace("?", "%s")
        with self.connect() as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    def execute(self, sql: str) -> None:
        with self.connect() as conn:
            if self.vendor == "sqlite":
                conn.executescript(sql)
            else:
                conn.execute(sql)

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def snapshot(self) -> dict[str, list[tuple[str, ...]]]:
        """Every row of the tables an attack must not change, as text."""
        return {
            table: [
                tuple(str(value) for value in row)
                for row in self.rows(f"SELECT * FROM {table} ORDER BY id")
            ]
            for table in SNAPSHOT_TABLES
        }

    def last_event_id(self) -> int:
        return int(self.scalar(f"SELECT COALESCE(MAX(id), 0) FROM {EVENT}"))

    def events_after(self, event_id: int) -> list[dict[str, Any]]:
        rows = self.rows(
            f"SELECT id, event_type, client_key, accepted, status_code, error_code "
            f"FROM {EVENT} WHERE id > ? ORDER BY id",
            (event_id,),
        )
        keys = ("id", "event_type", "client_key", "accepted", "status_code", "error_code")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def dump(self) -> str:
        """The whole database as text (pg_dump / sqlite .dump), for leak checks."""
        if self.vendor == "sqlite":
            conn = sqlite3.connect(urlsplit(self.url).path)
            try:
                return "\n".join(conn.iterdump())
            finally:
                conn.close()
        import shutil
        import subprocess

        if shutil.which("pg_dump"):
            result = subprocess.run(
                ["pg_dump", "--data-only", "--no-owner", self.url],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if result.returncode == 0:
                return result.stdout
        tables = [
            row[0]
            for row in self.rows(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return "\n".join(f"{table}: {self.rows(f'SELECT * FROM {table}')!r}" for table in tables)


# -- leak checks -------------------------------------------------------------------


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names (never values) of the ``secrets`` found in ``text``, and any JWT."""
    found = [name for name, value in secrets.items() if value and value in text]
    for match in JWT_PATTERN.finditer(text):
        found.append(f"a JWT at offset {match.start()} (starting {match.group()[:12]}...)")
    return found


def merge_report(figures: dict[str, Any], *, section: str | None = None) -> None:
    """Add ``figures`` to the JSON file named by CONNECT_RELIABILITY_REPORT, if set."""
    path = os.environ.get("CONNECT_RELIABILITY_REPORT")
    if not path or not figures:
        return
    existing: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path) as handle:
            existing = json.load(handle)
    if section:
        figures = {section: {**existing.get(section, {}), **figures}}
    with open(path, "w") as handle:
        json.dump({**existing, **figures}, handle, indent=1)


# -- a programmable install-key CDN ---------------------------------------------------


class _Server(LocalHTTPServer):
    """A local server that can be stopped and restarted on its port."""

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return self._handler()

    def _handler(self) -> type[BaseHTTPRequestHandler]:  # pragma: no cover - abstract
        raise NotImplementedError


class _QuietHandler(BaseHTTPRequestHandler):
    """A handler that does not print tracebacks when the client has already gone."""

    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):
            pass

    def drop_connection(self) -> None:
        """Close the socket without an answer (a crashed upstream)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class KeyCDN(_Server):
    """``GET /<kid>`` -> PEM. ``mode``: ok, slow, status, garbage, huge, reset."""

    keys: dict[str, InstallKeyPair] = field(default_factory=dict)
    mode: str = "ok"
    status: int = 500
    delay: float = 3.0
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Server.__init__(self)

    def add(self, key: InstallKeyPair) -> InstallKeyPair:
        self.keys[key.kid] = key
        return key

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cdn = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                kid = self.path.lstrip("/")
                cdn.requests.append(kid)
                mode = cdn.mode
                if mode == "slow":
                    time.sleep(cdn.delay)
                if mode == "status":
                    _send(self, cdn.status, b"unavailable", "text/plain")
                elif mode == "garbage":
                    _send(self, 200, b"<html>not a key</html>", "text/html")
                elif mode == "huge":
                    _send(self, 200, b"-" * 100_000, "application/x-pem-file")
                elif mode == "reset":
                    self.drop_connection()
                elif kid in cdn.keys:
                    _send(self, 200, cdn.keys[kid].public_pem.encode(), "application/x-pem-file")
                else:
                    _send(self, 404, b"no such key", "text/plain")

        return Handler


@dataclass
class TokenEndpoint(_Server):
    """``POST /oauth2/token``. ``script``: the answers of the next requests, in order.

    Each item is ``"ok"``, ``"slow"`` (sleeps ``delay``), ``"malformed"`` (200,
    not JSON), ``"no_token"`` (200, JSON without access_token), ``"reset"``
    (closes the connection) or an HTTP status (an int, answered with an HTML
    body as a gateway would). When the script is empty the answer is ``"ok"``.
    """

    script: list[Any] = field(default_factory=list)
    delay: float = 3.0
    requests: int = 0
    issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self._lock = threading.Lock()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with endpoint._lock:
                    endpoint.requests += 1
                    action = endpoint.script.pop(0) if endpoint.script else "ok"
                if action == "slow":
                    time.sleep(endpoint.delay)
                    action = "ok"
                if action == "reset":
                    self.drop_connection()
                elif action == "malformed":
                    _send(self, 200, b"<html>gateway</html>", "text/html")
                elif action == "no_token":
                    _send(self, 200, b'{"token_type": "Bearer"}', "application/json")
                elif isinstance(action, int):
                    # What a gateway in front of the real server answers: HTML.
                    _send(self, action, b"<html>upstream unavailable</html>", "text/html")
                else:
                    token = "at-" + uuid.uuid4().hex
                    endpoint.issued.append(token)
                    body = json.dumps(
                        {"access_token": token, "token_type": "Bearer", "expires_in": 900}
                    )
                    _send(self, 200, body.encode(), "application/json")

        return Handler
