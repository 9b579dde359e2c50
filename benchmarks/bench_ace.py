"""Side by side with atlassian-connect-express (ACE): requests/s per core and memory.

Two servers, each ONE process on ONE core:

- ours: the example project (``benchmarks.bench_settings``: production
  settings, SQLite, the process-local tenant cache) under gunicorn with one
  sync worker;
- ACE 11.5.3 (``benchmarks/ace_app/``): express 4, ``NODE_ENV=production``,
  its default store (sequelize on an SQLite file).

Both know the same tenant (clientKey and sharedSecret): ours through the ORM,
ACE through its own store (``saveInstallation``) before it opens its port.
The tokens are minted once by ``django_atlassian_connect.testing`` with a
week's lifetime and sent unchanged to both:

- ``hello``: ``GET /hello?<the product's iframe parameters>&jwt=<page token>``
  (qsh of the request) — ``@connect_jwt_required`` vs ``addon.authenticate()``;
- ``me``: ``GET /api/me`` with ``Authorization: JWT <context token>`` — DRF
  with ``ConnectContextJWTAuthentication`` vs ``addon.checkValidToken()``;
  one token for every request, as a front end sends it (``AP.context.getToken()``
  hands out the same token until it nears expiry): ours verifies its signature
  once and remembers it (``VERIFIED_TOKEN_CACHE_SIZE``);
- ``me_fresh``: the same with a new context token on every request
  (``FRESH_TOKENS`` tokens round robin, more than that memo holds): many users
  calling once each, nothing remembered;
- ``hello_open``, ``me_open``: the unauthenticated twin of each, same answer,
  same middleware: framework cost without authentication.

Both answer the same /hello page: Django renders its template; ACE fills the
three values into the bytes Django rendered (``ACE_BENCH_PAGE``).

With ``taskset`` and two or more CPUs, each server (the gunicorn master and
worker; node and its libuv threads) runs on CPU 0 and the load generator on
the others. The load generator is wrk (one thread, ``CONNECTIONS``
connections, ``seconds`` per run) or, without wrk, a threaded Python client
(slower: fast endpoints then measure low). For each of ``rounds`` rounds,
every endpoint is measured on both servers back to back, which server goes
first alternating per round; the figures are medians over the rounds.

Per CPU-second: each run also reads the CPU time (user + system, every
thread) the server's processes used (``/proc/<pid>/stat``: the gunicorn master
and worker; node): requests completed per CPU-second is throughput per core
without the time other load took from the server's core, steadier than
requests/s on a machine that is not quiet.

Memory: ``VmRSS`` of the gunicorn worker and of the node process after the
first 10,000 requests (2,000 per endpoint).

Without node/npm (or when the npm install fails) the ACE half is skipped and
says why; ours is still measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    ACCOUNT_ID,
    APP_KEY,
    CLIENT_KEY,
    HELLO_QUERY,
    ROOT,
    SHARED_SECRET,
    SITE_URL,
    bench_tokens,
    cpu_seconds,
    cpu_sets,
    example_env,
    free_port,
    fresh_context_tokens,
    load_run,
    pinned,
    python_load,
    rss_kib,
    stop_process,
    wait_for,
)

ACE_VERSION = "11.5.3"
APP_DIR = ROOT / "benchmarks" / "ace_app"
CACHE = ROOT / ".bench-cache" / "ace"
CONNECTIONS = 32
WARM_REQUESTS = 2000  # per endpoint and server: 10,000 each before RSS is read
ENDPOINTS = ("hello", "hello_open", "me", "me_fresh", "me_open")
FRESH_TOKENS = 5000  # > VERIFIED_TOKEN_CACHE_SIZE (1024): round robin, every one a miss


# -- ACE -----------------------------------------------------------------------------


def prepare_ace() -> tuple[Path | None, str | None]:
    """``(directory, None)`` with ACE installed, or ``(None, why not)``.

    ``make bench`` installs it once with ``npm ci`` in benchmarks/ace_app (the lock
    file's exact tree); without that, it is installed into the cache here.
    """
    ci_installed = APP_DIR / "node_modules" / "atlassian-connect-express" / "package.json"
    if (APP_DIR / "node_modules" / ".dac-installed").exists() and ci_installed.exists():
        if json.loads(ci_installed.read_text())["version"] == ACE_VERSION:
            return APP_DIR, None
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are needed for the ACE comparison (not found on PATH)"
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "app.js", "config.json", "atlassian-connect.json"):
        shutil.copyfile(APP_DIR / name, CACHE / name)
    wanted = hashlib.sha256((APP_DIR / "package.json").read_bytes()).hexdigest()
    stamp = CACHE / ".installed"
    installed = CACHE / "node_modules" / "atlassian-connect-express" / "package.json"
    if (
        stamp.exists()
        and stamp.read_text() == wanted
        and installed.exists()
        and json.loads(installed.read_text())["version"] == ACE_VERSION
    ):
        return CACHE, None
    env = dict(os.environ)
    if Path("/usr/include/node/node.h").exists():
        # sqlite3 builds from source when no prebuilt binary can be fetched: use
        # the installed Node headers instead of downloading them.
        env.setdefault("npm_config_nodedir", "/usr")
    print(f"installing atlassian-connect-express {ACE_VERSION} into {CACHE} ...", flush=True)
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=optional", "--foreground-scripts"],
        cwd=CACHE,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode or not installed.exists():
        tail = (proc.stdout + proc.stderr)[-1500:]
        return None, f"npm install failed in {CACHE} (exit {proc.returncode}): {tail}"
    check = subprocess.run(
        [node, "-e", "require('sqlite3'); require('atlassian-connect-express')"],
        cwd=CACHE,
        capture_output=True,
        text=True,
    )
    if check.returncode:
        return None, f"ACE's modules do not load: {check.stderr[-800:]}"
    stamp.write_text(wanted)
    return CACHE, None


def start_ace(
    directory: Path, port: int, tmp: Path, page: Path, cpus: str | None
) -> subprocess.Popen:
    tenant = {
        "key": APP_KEY,
        "clientKey": CLIENT_KEY,
        "sharedSecret": SHARED_SECRET,
        "baseUrl": SITE_URL,
        "productType": "jira",
        "description": "benchmark site",
        "eventType": "installed",
    }
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PORT": str(port),
        "AC_LOCAL_BASE_URL": f"http://127.0.0.1:{port}",
        "ACE_BENCH_DB": str(tmp / "ace.sqlite3"),
        "ACE_BENCH_TENANT": json.dumps(tenant),
        "ACE_BENCH_PAGE": str(page),
        "ACE_BENCH_CLIENT_KEY": CLIENT_KEY,
        "ACE_BENCH_BASE_URL": SITE_URL,
        "ACE_BENCH_ACCOUNT_ID": ACCOUNT_ID,
    }
    log = open(tmp / "ace.log", "w")  # closed with the process
    return subprocess.Popen(
        pinned([shutil.which("node") or "node", "app.js"], cpus),
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


# -- ours ----------------------------------------------------------------------------


def start_ours(port: int, tmp: Path, cpus: str | None) -> tuple[subprocess.Popen, dict[str, str]]:
    env = example_env(f"http://127.0.0.1:{port}", tmp / "ours.sqlite3")
    manage = [sys.executable, str(ROOT / "example_project" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    seed = "import django; django.setup(); from benchmarks.common import seed_tenant; seed_tenant()"
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, cwd=ROOT)
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", "1", "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
    ]  # fmt: skip
    if Path("/dev/shm").is_dir():  # noqa: S108 - gunicorn's advice: no disk heartbeat
        command += ["--worker-tmp-dir", "/dev/shm"]  # noqa: S108
    log = open(tmp / "gunicorn.log", "w")  # closed with the process
    server = subprocess.Popen(
        pinned([*command, "example_project.wsgi:application"], cpus),
        cwd=ROOT / "example_project",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return server, env


def gunicorn_worker(master: subprocess.Popen) -> int:
    """The pid of the one worker (a child of the master; taskset execs in place)."""
    for _ in range(100):
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
        if children.exists():
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker found")


def ace_page(base: str, path: Path) -> None:
    """Django's /hello page with its three values as slots, for ACE to fill in."""
    import urllib.request

    with urllib.request.urlopen(f"{base}/hello-open?{HELLO_QUERY}", timeout=10) as answer:  # noqa: S310
        html = answer.read().decode("utf-8")
    for value, slot in (
        (SITE_URL, "__DAC_BASE_URL__"),
        (CLIENT_KEY, "__DAC_CLIENT_KEY__"),
        (ACCOUNT_ID, "__DAC_ACCOUNT_ID__"),
    ):
        if value not in html:
            raise RuntimeError(f"the /hello page no longer shows {value!r}: update ace_page()")
        html = html.replace(value, slot)
    path.write_text(html, encoding="utf-8")


# -- the run -------------------------------------------------------------------------


SECONDS = int(os.environ.get("BENCH_ACE_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ACE_ROUNDS", "5"))


def run(seconds: int = SECONDS, rounds: int = ROUNDS) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="dac-bench-ace-"))
    server_cpus, load_cpus = cpu_sets()
    tokens = bench_tokens()
    hello = f"{HELLO_QUERY}&jwt={tokens['hello']}"
    context = {"Authorization": f"JWT {tokens['context']}"}
    fresh = ("Authorization", [f"JWT {token}" for token in fresh_context_tokens(FRESH_TOKENS)])
    # endpoint -> (target, headers, rotated header or None)
    requests_of: dict[str, tuple[str, dict[str, str], tuple[str, list[str]] | None]] = {
        "hello": (f"/hello?{hello}", {}, None),
        "hello_open": (f"/hello-open?{hello}", {}, None),
        "me": ("/api/me", context, None),
        "me_fresh": ("/api/me", {}, fresh),
        "me_open": ("/api/me-open", context, None),
    }
    result: dict[str, object] = {
        "seconds": seconds,
        "rounds": rounds,
        "connections": CONNECTIONS,
        "load_generator": "wrk" if shutil.which("wrk") else "python",
        "pinned": f"servers on CPU {server_cpus}, load on CPU {load_cpus}"
        if server_cpus
        else "not pinned (no taskset or one CPU)",
    }
    ours_port, ace_port = free_port(), free_port()
    ours_base, ace_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{ace_port}"
    ours = ace = None
    try:
        ours, _ = start_ours(ours_port, tmp, server_cpus)
        wait_for(f"{ours_base}/atlassian-connect.json")
        servers = {"ours": ours_base}
        directory, why_not = prepare_ace()
        if directory is not None:
            page = tmp / "hello.html"
            ace_page(ours_base, page)
            ace = start_ace(directory, ace_port, tmp, page, server_cpus)
            try:
                wait_for(f"{ace_base}/api/me-open")
                servers["ace"] = ace_base
            except RuntimeError:
                why_not = "ACE did not start: " + (tmp / "ace.log").read_text()[-800:]
        if why_not:
            result["ace_skipped"] = why_not
            print(f"ACE comparison skipped: {why_not}", flush=True)

        # Warm-up, checked: every endpoint answers 2xx on every server, then RSS.
        for base in servers.values():
            for target, headers, rotate in requests_of.values():
                python_load(
                    base + target,
                    headers,
                    seconds=120,
                    connections=4,
                    max_requests=WARM_REQUESTS,
                    rotate=rotate,
                )
        result["ours_rss_mib"] = rss_kib(gunicorn_worker(ours)) / 1024
        if ace is not None and "ace" in servers:
            result["ace_rss_mib"] = rss_kib(ace.pid) / 1024

        # The CPU the server spends (all its processes and threads): requests per
        # CPU-second is throughput per core without what other load takes from it.
        server_pids = {"ours": [ours.pid, gunicorn_worker(ours)]}
        if ace is not None and "ace" in servers:
            server_pids["ace"] = [ace.pid]
        samples: dict[str, list[float]] = {f"{s}_{e}": [] for s in servers for e in ENDPOINTS}
        per_cpu: dict[str, list[float]] = {f"{s}_{e}": [] for s in servers for e in ENDPOINTS}
        order = list(servers)
        for round_number in range(rounds):
            for endpoint in ENDPOINTS:
                target, headers, rotate = requests_of[endpoint]
                for name in order if round_number % 2 == 0 else reversed(order):
                    cpu_before = cpu_seconds(server_pids[name])
                    rps, count = load_run(
                        servers[name] + target,
                        headers,
                        seconds=seconds,
                        connections=CONNECTIONS,
                        cpus=load_cpus,
                        rotate=rotate,
                    )
                    used = cpu_seconds(server_pids[name]) - cpu_before
                    samples[f"{name}_{endpoint}"].append(rps)
                    per_cpu[f"{name}_{endpoint}"].append(count / used if used else 0.0)
                    print(
                        f"  round {round_number + 1} {name} {endpoint}: {rps:.0f} req/s, "
                        f"{per_cpu[f'{name}_{endpoint}'][-1]:.0f} per CPU-second",
                        flush=True,
                    )
    finally:
        stop_process(ours)
        stop_process(ace)
    for key, values in samples.items():
        result[f"{key}_rps"] = statistics.median(values)
        result[f"{key}_per_cpu_s"] = statistics.median(per_cpu[key])
    result["samples"] = samples
    result["samples_per_cpu_s"] = per_cpu
    for name in servers:
        for endpoint, twin in (("hello", "hello"), ("me", "me"), ("me_fresh", "me")):
            auth = result[f"{name}_{endpoint}_rps"]
            open_ = result[f"{name}_{twin}_open_rps"]
            result[f"{name}_{endpoint}_auth_overhead"] = 1 - auth / open_  # type: ignore[operator]
            result[f"{name}_{endpoint}_auth_overhead_cpu"] = 1 - (
                result[f"{name}_{endpoint}_per_cpu_s"] / result[f"{name}_{twin}_open_per_cpu_s"]  # type: ignore[operator]
            )
    if "ace" in servers:
        for endpoint in ENDPOINTS:
            result[f"ratio_{endpoint}"] = (
                result[f"ours_{endpoint}_rps"] / result[f"ace_{endpoint}_rps"]  # type: ignore[operator]
            )
            result[f"cpu_ratio_{endpoint}"] = (
                result[f"ours_{endpoint}_per_cpu_s"] / result[f"ace_{endpoint}_per_cpu_s"]  # type: ignore[operator]
            )
    return result


if __name__ == "__main__":
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else SECONDS
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS
    print(json.dumps(run(seconds, rounds), indent=2))
