"""Starting the servers, ours and ACE, pinned, and loading them with wrk."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    ACCOUNT_ID,
    CLIENT_KEY,
    HELLO_QUERY,
    ROOT,
    SHARED_SECRET,
    bench_tokens,
    example_env,
    free_port,
    fresh_context_tokens,
    pinned,
    run_wrk,
    stop_process,
    wait_for,
)
from benchmarks.servers_config import CONNECTIONS, EXAMPLE, POOL_SIZE, SERVERS, WRK_POOL


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``taskset`` and ``serve.py`` exec in place)."""
    pids, index = [pid], 0
    while index < len(pids):
        tasks = Path(f"/proc/{pids[index]}/task")
        index += 1
        for task in tasks.iterdir() if tasks.is_dir() else []:
            try:
                pids += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # the thread ended meanwhile
                continue
    return pids


# -- load ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What wrk sends: a target (path and query), fixed headers, or a pool file."""

    target: str
    headers: tuple[tuple[str, str], ...] = ()
    pool: Path | None = None  # one entry per line, see benchmarks/wrk/pool.lua
    pool_header: str | None = None


def wrk(base: str, load: Load, *, seconds: float, cpus: str | None) -> tuple[float, int]:
    """``(requests per second, requests completed)``; any non-2xx answer or timeout fails."""
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in load.headers:
        args += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    env.pop("WRK_POOL_HEADER", None)
    if load.pool is not None:
        args += ["-s", str(WRK_POOL)]
        env["WRK_POOL_FILE"] = str(load.pool)
        if load.pool_header:
            env["WRK_POOL_HEADER"] = load.pool_header
    where = base + load.target[:60]
    return run_wrk([*args, base + load.target], where, cpus=cpus, seconds=seconds, env=env)


def loads(tmp: Path) -> dict[str, Load]:
    """The six endpoints' requests, the same for every server (ACE included)."""
    from django_atlassian_connect.testing import request_token

    tokens = bench_tokens()
    page_query = f"{HELLO_QUERY}&jwt={tokens['hello']}"
    context = (("Authorization", f"JWT {tokens['context']}"),)
    pages = tmp / "page-targets"
    pages.write_text(
        "".join(
            f"/hello?{HELLO_QUERY}&jwt="
            + request_token(
                client_key=CLIENT_KEY,
                secret=SHARED_SECRET,
                method="GET",
                url=f"/hello?{HELLO_QUERY}",
                account_id=ACCOUNT_ID,
                lifetime=7 * 24 * 3600,
                jti=f"page-{number}",
            )
            + "\n"
            for number in range(POOL_SIZE)
        )
    )
    contexts = tmp / "context-tokens"
    contexts.write_text("".join(f"JWT {t}\n" for t in fresh_context_tokens(POOL_SIZE)))
    return {
        "hello": Load(f"/hello?{page_query}"),
        "hello_fresh": Load("/hello", pool=pages),
        "hello_open": Load(f"/hello-open?{page_query}"),
        "me": Load("/api/me", context),
        "me_fresh": Load("/api/me", pool=contexts, pool_header="Authorization"),
        "me_open": Load("/api/me-open", context),
    }


# -- starting them -------------------------------------------------------------------


def prepare_ours(tmp: Path) -> dict[str, str]:
    """One migrated, seeded SQLite file for every server of ours; their environment."""
    env = example_env("http://127.0.0.1:8000", tmp / "ours.sqlite3")
    subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "migrate", "-v0"], env=env, check=True
    )
    seed = "import django; django.setup(); from benchmarks.common import seed_tenant; seed_tenant()"
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, cwd=ROOT)
    return env


def start_ours(
    name: str, env: dict[str, str], tmp: Path, cpus: str | None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp / f"{name}.log", "w")  # closed with the process
    process = subprocess.Popen(
        pinned(SERVERS[name].command(port), cpus),
        cwd=EXAMPLE,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/atlassian-connect.json", timeout=90)
    except RuntimeError as exc:
        stop_process(process)
        log_text = (tmp / f"{name}.log").read_text()[-2000:]
        raise RuntimeError(f"{name} did not start:\n{log_text}") from exc
    return process, base


def ace_directory() -> tuple[Path | None, str | None]:
    """ACE as ``make bench`` installs it (see :func:`benchmarks.bench_ace.prepare_ace`)."""
    from benchmarks.bench_ace import prepare_ace

    return prepare_ace()


def start_ace_server(
    ours_base: str, tmp: Path, cpus: str | None
) -> tuple[subprocess.Popen | None, str | None, str | None]:
    """``(process, base URL, None)`` or ``(None, None, why not)``."""
    from benchmarks.bench_ace import ace_page, start_ace

    directory, why_not = ace_directory()
    if directory is None:
        return None, None, why_not
    page = tmp / "hello.html"
    ace_page(ours_base, page)
    port = free_port()
    process = start_ace(directory, port, tmp, page, cpus)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/me-open", timeout=60)
    except RuntimeError:
        stop_process(process)
        return None, None, "ACE did not start: " + (tmp / "ace.log").read_text()[-800:]
    return process, base, None


# -- the profile ---------------------------------------------------------------------
