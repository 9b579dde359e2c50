"""Which server to run the example project under, measured: one core each, beside ACE.

``make bench-servers`` (or ``python benchmarks/bench_servers.py``) serves the
example project (``benchmarks.bench_settings``: production settings, SQLite,
the process-local tenant cache, plus the unauthenticated twins of /hello and
/api/me) under each of these, ONE worker process each:

- ``gunicorn-sync``: gunicorn, sync worker (one request at a time, a
  connection per request);
- ``gunicorn-gthread``: gunicorn, gthread worker, 4 threads (keep-alive);
- ``granian-wsgi``: ``python example_project/serve.py --workers 1`` itself,
  the command ``docs/deployment.rst`` recommends (granian, WSGI, 4 blocking
  threads);
- ``granian-asgi``: granian, ASGI without lifespan (``asginl``), uvloop;
- ``uvicorn``: uvicorn, uvloop and httptools, one process;

and atlassian-connect-express 11.5.3 (``benchmarks/ace_app/``, express 4,
``NODE_ENV=production``, one process; see ``bench_ace.py``), all at once, each
pinned with ``taskset`` to CPU 0 (every process and thread of the server),
wrk pinned to the other CPUs (one thread, 32 connections). Under ASGI our
views are sync: Django runs each in its one sync thread (``sync_to_async``),
which is what an ASGI deployment of these views costs.

Endpoints, each answered alike by both frameworks (``bench_ace`` explains
how ACE serves the same bytes):

- ``hello``: ``/hello`` with one page token (qsh of the request) for every
  request; ``hello_fresh``: a new page token on every request (5,000 minted
  beforehand, one per request round robin from ``benchmarks/wrk/pool.lua``);
- ``me``: ``/api/me`` with one context token, as a front end sends it;
  ``me_fresh``: a new context token on every request (5,000, more than the
  1,024 a process remembers);
- ``hello_open``, ``me_open``: the unauthenticated twin of each, same
  answer, same middleware.

``rounds`` rounds; in each, every endpoint is measured on every server back
to back for ``seconds`` seconds, the servers' order rotating from round to
round, each twin measured next to the rows it is the twin of. Figures are medians over the rounds with the per-round range;
ratios (ours / ACE, 1 - authenticated / twin) are taken per round, the pair
measured seconds apart, then the median. Each run also reads the CPU time
the server's processes used (``/proc``): requests per CPU-second are
throughput per core without what other load on the machine took from it.

Then, while wrk drives ``/hello`` and ``/api/me`` on the recommended server,
py-spy samples its worker: where a request's Python time goes, and how much
of it is ours (``django_atlassian_connect``, with what it calls).

Writes ``docs/_generated/servers.json`` (raw) and ``docs/_generated/servers.inc``
(the tables ``docs/deployment.rst`` includes). ``BENCH_SERVERS_SECONDS`` (4)
and ``BENCH_SERVERS_ROUNDS`` (5): about 13 minutes on two cores. ``--smoke``
(1 round of 2 s) marks the page as a smoke run. ``--servers a,b`` measures
some servers only (the page is then not written).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    cpu_seconds,
    cpu_sets,
    machine,
    stop_process,
)
from benchmarks.servers_config import (
    ACE,
    CONNECTIONS,
    ENDPOINTS,
    MEASURE_ORDER,
    OUT_DIR,
    PY_SPY,
    RECOMMENDED,
    ROUNDS,
    SECONDS,
    SERVERS,
    WARM_SECONDS,
)
from benchmarks.servers_launch import (
    loads,
    prepare_ours,
    process_tree,
    start_ace_server,
    start_ours,
    wrk,
)
from benchmarks.servers_profile import _loadavg, _version, profile
from benchmarks.servers_report import summarise, write


def run(
    seconds: int = SECONDS, rounds: int = ROUNDS, servers: list[str] | None = None
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk; `make bench-servers` installs it)")
    names = servers or list(SERVERS)
    tmp = Path(tempfile.mkdtemp(prefix="dac-bench-servers-"))
    server_cpus, load_cpus = cpu_sets()
    result: dict[str, Any] = {
        "at": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "machine": machine(),
        "loadavg_before": _loadavg(),
        "seconds": seconds,
        "rounds": rounds,
        "connections": CONNECTIONS,
        "pinned": f"servers on CPU {server_cpus}, wrk on CPU {load_cpus}"
        if server_cpus
        else "not pinned (no taskset or one CPU): figures not comparable",
        "recommended": RECOMMENDED,
        "servers": {name: SERVERS[name].label for name in names},
        "versions": {package: _version(package) for package in ("gunicorn", "granian", "uvicorn")},
    }
    print(f"servers on CPU {server_cpus}, wrk on CPU {load_cpus}; {tmp}", flush=True)
    requests = loads(tmp)
    env = prepare_ours(tmp)
    processes: dict[str, subprocess.Popen] = {}
    bases: dict[str, str] = {}
    started = time.monotonic()
    try:
        for name in names:
            processes[name], bases[name] = start_ours(name, env, tmp, server_cpus)
        ace, ace_base, why_not = start_ace_server(bases[names[0]], tmp, server_cpus)
        if ace is not None and ace_base is not None:
            processes[ACE], bases[ACE] = ace, ace_base
            node = subprocess.run(["node", "--version"], capture_output=True, text=True)
            result["versions"]["node"] = node.stdout.strip()
            result["versions"]["atlassian-connect-express"] = "11.5.3"
        else:
            result["ace_skipped"] = why_not
            print(f"ACE skipped: {why_not}", flush=True)
        # Warm-up, checked: every endpoint answers 2xx on every server.
        for base in bases.values():
            for load in requests.values():
                wrk(base, load, seconds=WARM_SECONDS, cpus=load_cpus)
        pids = {name: process_tree(process.pid) for name, process in processes.items()}
        order = list(bases)
        samples: dict[str, dict[str, list[float]]] = {n: {e: [] for e in ENDPOINTS} for n in order}
        per_cpu: dict[str, dict[str, list[float]]] = {n: {e: [] for e in ENDPOINTS} for n in order}
        for round_number in range(rounds):
            shift = round_number % len(order)
            for endpoint in MEASURE_ORDER:
                for name in order[shift:] + order[:shift]:
                    before = cpu_seconds(pids[name])
                    rps, count = wrk(
                        bases[name], requests[endpoint], seconds=seconds, cpus=load_cpus
                    )
                    used = cpu_seconds(pids[name]) - before
                    samples[name][endpoint].append(rps)
                    per_cpu[name][endpoint].append(count / used if used else 0.0)
                print(
                    f"  round {round_number + 1}/{rounds} {endpoint}: "
                    + ", ".join(f"{n} {samples[n][endpoint][-1]:.0f}" for n in order)
                    + f" ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
        result["samples"] = samples
        result["samples_per_cpu_s"] = per_cpu
        if RECOMMENDED in processes and PY_SPY:
            worker = process_tree(processes[RECOMMENDED].pid)[-1]
            result["profile"] = {
                endpoint: profile(worker, bases[RECOMMENDED], requests[endpoint], load_cpus, tmp)
                for endpoint in ("hello", "me")
            }
        elif RECOMMENDED in processes:
            result["profile"] = {"skipped": "py-spy is not installed (pip install py-spy)"}
    finally:
        for process in processes.values():
            stop_process(process)
    result["minutes"] = round((time.monotonic() - started) / 60, 1)
    result["loadavg_after"] = _loadavg()
    summarise(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="1 round of 2 s; marked on the page")
    parser.add_argument("--servers", help=f"comma-separated subset of {', '.join(SERVERS)}")
    parser.add_argument(
        "--render", action="store_true", help="rewrite servers.inc from servers.json"
    )
    args = parser.parse_args()
    if args.render:
        result = json.loads((OUT_DIR / "servers.json").read_text())
        write(result, smoke=result.get("smoke", False))
        return
    seconds = args.seconds or (2 if args.smoke else SECONDS)
    rounds = args.rounds or (1 if args.smoke else ROUNDS)
    servers = args.servers.split(",") if args.servers else None
    unknown = set(servers or ()) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    result = run(seconds, rounds, servers)
    smoke = args.smoke or seconds < SECONDS or rounds < 5
    if servers is None:
        write(result, smoke=smoke)
    else:
        print(json.dumps({k: result[k] for k in ("median_rps", "auth_overhead")}, indent=1))
        if "versus_ace" in result:
            print(json.dumps(result["versus_ace"], indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
