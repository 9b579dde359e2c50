"""Run every benchmark and write docs/performance.md (``make bench``).

Each benchmark runs in its own process (a fresh Django set-up and database).
The page is MyST Markdown: ``docs/performance.rst`` includes it from its third
line, so its tables render as tables; keep the "# Performance" title and the
blank line after it.

``python benchmarks/run.py --only bench_ace,bench_views`` runs some of them
(the page is then not rewritten). Shorter runs: ``BENCH_ACE_SECONDS``,
``BENCH_ACE_ROUNDS``, ``BENCH_HOUSEKEEPING_TENANTS``; ``BENCH_NOTE`` is printed
under the title (say there that the figures come from a smoke run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run_tables import (
    _guard,
    ace_rows,
    housekeeping_rows,
    main_rows,
    overhead_rows,
    table,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "performance.md"

MODULES = (
    "bench_inbound",
    "bench_outbound",
    "bench_impersonation",
    "bench_scale",
    "bench_e2e",
    "bench_tenant_cache",
    "bench_forge",
    "bench_views",
    "bench_ace",
    "bench_housekeeping",
)


def run_module(name: str, *args: str) -> dict[str, Any]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from benchmarks import {name} as m; "
        "print('RESULT ' + json.dumps(m.run(*[int(a) for a in sys.argv[1:]])))"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # progress lines as they come
        lines.append(line)
        if not line.startswith("RESULT "):
            print(f"  {name}: {line.rstrip()}", flush=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.wait():
        raise SystemExit(f"benchmark {name} failed:\n{''.join(lines)}\n{stderr}")
    line = next(line for line in lines if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    summary = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
    print(f"{name}: {summary} ({time.monotonic() - started:.0f} s)", flush=True)
    return result


HOW = """\
## What each figure measures

- **Machine**: the line above, from `benchmarks.common.machine()` (CPU model, cores, Python,
  Django, PyJWT, kernel). Figures from a busy machine are not comparable: run on a quiet one.
- **Micro-benchmarks** (`authenticate()`, signing, Forge): best of 7 runs of 2,000 calls
  (`timeit`), per call; cold timings are medians. `bench_inbound` builds a fresh `WSGIRequest`
  (and DRF `Request`) for every call, as a server does, and so does its floor: building the
  request, reading the header, one PyJWT HS256 `decode` and one query string hash of the
  request (`qsh.query_string_hash`, the same code ours uses: making it faster made the floor
  faster too). "One request reused" is the former figure, where the request's parsed query
  stayed cached from call to call. atlassian-jwt is the PyPI package's `Authenticator` with an
  in-memory tenant lookup (it takes the URL and headers: no request to build).
- **Warm path**: the tenant snapshot and decrypted secret in process memory, trusted for
  `TENANT_CACHE_REVALIDATE` (1 s): nothing read from Django's cache (local memory, or Redis at
  `redis://127.0.0.1:6379/15`) on a warm request; one version-key read (Redis) or `updated_at`
  query (local memory) per tenant per second. `bench_tenant_cache` compares Redis with the local
  cache in the same run, each best of 7, alternately twice.
- **Side by side with ACE** (`bench_ace`): the example project under gunicorn, ONE sync worker,
  production settings (`benchmarks/bench_settings.py`, see "Production settings" below),
  SQLite; atlassian-connect-express 11.5.3 (`benchmarks/ace_app/`, express 4,
  `NODE_ENV=production`, one process, its default sequelize store on an SQLite file). Both know
  the same tenant and get the same tokens (`django_atlassian_connect.testing`, one week's
  lifetime) and answer the same `/hello` bytes. With `taskset` and two or more CPUs each server
  runs on CPU 0 (gunicorn master and worker; node with its libuv threads) and the load
  generator on the others; wrk, one thread, 32 connections (a Python client without wrk).
  Rounds interleave the servers (which goes first alternates); figures are medians. Requests/s
  per core, higher is better. Per CPU-second: requests completed per second of CPU time the
  server's processes used (user + system, all threads, from `/proc`), the same runs: throughput
  per core without the time other load on the machine took from the server's core. Memory: resident set size of the gunicorn worker and of the node
  process after their first 10,000 requests.
- **Authentication overhead**: 1 − (requests/s of the endpoint ÷ requests/s of its
  unauthenticated twin), same server, same run: the twin answers the same body through the same
  middleware, view machinery and template without verifying a token. In process
  (`bench_views`): the example project called through Django's `WSGIHandler` with no server,
  microseconds per request, and the share of a cProfile run spent in `inbound.verify_request`.
- **Housekeeping** (`bench_housekeeping`): `verify_installations` sent once; a worker fans it out
  in chunk tasks; wall time until every tenant's `last_verified_at` is set. The simulated site
  (`testing.host.ConnectHost`, `rest_latency`) checks each JWT as the product does.
- **Throughput, 2 workers** (`bench_e2e`): gunicorn with 2 sync workers, `wrk -t2 -c8`, the load
  generator on the same 2 cores; the twin is run before and after, averaged. One context token
  for every request: after its first use each worker remembers it (`VERIFIED_TOKEN_CACHE_SIZE`).
- **One context token or a new one per request** (`/api/me` in `bench_ace` and `bench_views`):
  a front end sends the same context token with every call until it nears expiry, so each
  process verifies its signature once and then checks only its times and the tenant's state.
  `me_fresh` sends 5,000 different tokens round robin (more than the 1,024 a process
  remembers): every request is verified in full, as when many users call once each. Page
  tokens (`/hello`) are always verified in full; the benchmark's one page token costs what a
  new page load's token costs.

## Reproduce

`make bench` (about 25 minutes, then about 14 for the server comparison of
`docs/deployment.rst`, `make bench-servers` alone; it installs wrk with apt-get when run as
root, npm installs ACE once into `.bench-cache/` and `benchmarks/ace_app/node_modules`,
git-ignored). Needs Redis on 127.0.0.1:6379 for the Redis and
housekeeping figures (`.ci/services start`) and node/npm for ACE; each part says why it was
skipped otherwise. One part: `python benchmarks/run.py --only bench_ace` (the page is not
rewritten; add `--update` to rewrite it with that part's new figures and the last full run's
others, which the page then says), or `python benchmarks/bench_ace.py [seconds] [rounds]`;
`BENCH_HOUSEKEEPING_TENANTS=1000 python benchmarks/bench_housekeeping.py` for a short run.
"""


def write_page(results: dict[str, dict[str, Any]], elapsed: float) -> None:
    from benchmarks.common import machine

    ace, views, housekeeping = (
        results["bench_ace"],
        results["bench_views"],
        results["bench_housekeeping"],
    )
    note = os.environ.get("BENCH_NOTE", "").strip() or results.get("run", {}).get("note", "")
    run = results.setdefault(  # type: ignore[call-overload]
        "run",
        {"at": f"{datetime.now(UTC):%Y-%m-%d %H:%M}", "minutes": round(elapsed / 60), "note": note},
    )
    lines = [
        "# Performance",
        "",
        f"Measured {run['at']} UTC by `make bench` in {run['minutes']} min.",
        "",
        *([f"**{note}**", ""] if note else []),
        *(
            [
                "Re-run with `run.py --only NAME --update` (these figures are the re-run's, the "
                "others the full run's): "
                + "; ".join(f"`{name}` at {at}" for name, at in sorted(results["reruns"].items()))
                + ".",
                "",
            ]
            if results.get("reruns")
            else []
        ),
        f"Machine: {machine()}.",
        "",
        "## Summary",
        "",
        *table(
            ["what", "ours", "compared with", "target", ""],
            _guard(lambda: main_rows(results), "summary"),
        ),
        "",
        "## Side by side with atlassian-connect-express, one core each",
        "",
        f"Requests/s, median of {ace['rounds']} round(s) of {ace['seconds']} s; {ace['pinned']}; "
        f"load generator {ace['load_generator']} ({ace['connections']} connections)."
        + (f" ACE skipped: {ace['ace_skipped']}" if "ace_skipped" in ace else ""),
        "",
        *table(
            [
                "endpoint",
                "ours",
                "ACE 11.5.3",
                "ours / ACE (rounds: min–max)",
                "per CPU-second: ours / ACE",
                "target",
                "",
            ],
            _guard(lambda: ace_rows(ace), "ACE"),
        ),
        "",
        "Memory per worker after 10,000 requests: ours (gunicorn sync worker) "
        f"{ace['ours_rss_mib']:.0f} MiB"
        + ("" if "ace_skipped" in ace else f", ACE (node) {ace['ace_rss_mib']:.0f} MiB")
        + ".",
        "",
        "## Authentication overhead",
        "",
        *table(
            ["endpoint", "ours (gunicorn, 1 worker)", "ACE", "ours in process", "target", ""],
            _guard(lambda: overhead_rows(ace, views), "overhead"),
        ),
        "",
        "## Housekeeping",
        "",
        *table(
            ["what", "ours", "compared with", "target", ""],
            _guard(lambda: housekeeping_rows(housekeeping), "housekeeping"),
        ),
        "",
        "Where a request's time goes (`bench_views`, own time under cProfile): `/hello`: "
        + ", ".join(f"`{item}`" for item in views["hello_top"][:6])
        + "; `/api/me`: "
        + ", ".join(f"`{item}`" for item in views["me_top"][:6])
        + ".",
        "",
        HOW,
        "## Raw results",
        "",
        "```json",
        json.dumps(results, indent=2),
        "```",
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT}")


def previous_results() -> dict[str, dict[str, Any]]:
    """The raw results of the page's last run (its JSON block), or ``{}``."""
    if not OUT.exists():
        return {}
    text = OUT.read_text(encoding="utf-8")
    start = text.find("## Raw results")
    block = text.find("```json", start)
    if start < 0 or block < 0:
        return {}
    end = text.find("```", block + 7)
    try:
        loaded = json.loads(text[block + 7 : end])
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    only = None
    update = "--update" in sys.argv
    if "--render" in sys.argv:
        # The page's layout changed: write it again from its own raw results.
        write_page(previous_results(), 0)
        return
    args = [arg for arg in sys.argv[1:] if arg != "--update"]
    if len(args) > 1 and args[0] == "--only":
        only = args[1].split(",")
    started = time.monotonic()
    results = {name: run_module(name) for name in MODULES if only is None or name in only}
    if only is None:
        write_page(results, time.monotonic() - started)
    elif update:
        # Re-run parts, keep the others' figures from the page's last full run.
        merged = {**previous_results(), **results}
        missing = [name for name in MODULES if name not in merged]
        if missing:
            raise SystemExit(f"--update needs a full run first; no results for {missing}")
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        # module -> when it was last re-run (earlier re-runs of other modules stay listed)
        reruns = dict(merged.get("reruns", {}))
        reruns.update(dict.fromkeys(only, stamp))
        merged["reruns"] = reruns
        merged.pop("rerun", None)
        write_page(merged, time.monotonic() - started)


if __name__ == "__main__":
    main()
