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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
    ]


def _guard(build: Callable[[], list[list[str]]], what: str) -> list[list[str]]:
    try:
        return build()
    except KeyError as exc:  # a figure missing from a run: say so, write the rest
        return [[what, "—", f"figure {exc} missing from this run", "—", "—"]]


def main_rows(r: dict[str, dict[str, Any]]) -> list[list[str]]:
    inbound, outbound, imp = r["bench_inbound"], r["bench_outbound"], r["bench_impersonation"]
    scale, e2e, staleness, forge = (
        r["bench_scale"],
        r["bench_e2e"],
        r["bench_tenant_cache"],
        r["bench_forge"],
    )
    in_ratio = inbound["ours"] / inbound["floor"]
    out_ratio = outbound["ours"] / outbound["floor"]
    scale_ratio = scale["warm_big"] / scale["warm_10"]
    rows = [
        [
            "Inbound: warm `authenticate()`, a fresh request per call",
            f"{inbound['ours']:.1f} µs",
            f"floor {inbound['floor']:.1f} µs (build the request, PyJWT decode, qsh): "
            f"**{in_ratio:.2f}×**; building the request alone {inbound['build']:.1f} µs; "
            f"one request reused: {inbound['ours_reused']:.1f} vs {inbound['floor_reused']:.1f} µs "
            f"({inbound['ours_reused'] / inbound['floor_reused']:.2f}×); "
            f"atlassian-jwt {inbound['atlassian_jwt']:.1f} µs",
            "≤ 0.7× floor",
            verdict(in_ratio <= 0.7),
        ]
    ]
    if "redis_ours" in inbound:
        redis_ratio = inbound["redis_ours"] / inbound["redis_floor"]
        rows.append(
            [
                "The same, tenant cache on Redis",
                f"{inbound['redis_ours']:.1f} µs",
                f"floor {inbound['redis_floor']:.1f} µs: **{redis_ratio:.2f}×** "
                "(one version-key read from Redis per request)",
                "reported",
                "—",
            ]
        )
    else:
        rows.append(
            [
                "The same, tenant cache on Redis",
                "—",
                inbound["redis_skipped"],
                "reported",
                "skipped",
            ]
        )
    rows += [
        [
            "Outbound: sign one request (`as_app`)",
            f"{outbound['ours']:.1f} µs",
            f"floor {outbound['floor']:.1f} µs (PyJWT encode + qsh): **{out_ratio:.2f}×**; "
            f"atlassian-jwt `encode_token` {outbound['atlassian_jwt']:.1f} µs",
            "≤ 1.3× floor",
            verdict(out_ratio <= 1.3),
        ],
        [
            "Database queries per authenticated request, warm",
            "0",
            "`tests/test_tenant_cache.py` asserts it with `django_assert_num_queries(0)`",
            "0",
            "met",
        ],
        [
            "Impersonation grants",
            f"{imp['grants']}",
            f"{imp['calls']} `as_user` calls, {imp['users']} users, {imp['processes']} processes",
            f"= {imp['users']}",
            verdict(imp["grants"] == imp["users"]),
        ],
        [
            "Warm authenticate, 10 vs 100 000 tenants",
            f"{scale['warm_10']:.1f} / {scale['warm_big']:.1f} µs",
            f"**{scale_ratio:.2f}×**; cold (empty cache): {scale['cold_10']:.0f} / {scale['cold_big']:.0f} µs",
            "within 10 %",
            verdict(scale_ratio <= 1.10),
        ],
        [
            "Signed install at 100 000 tenants",
            f"{scale['install_ms_big']:.1f} ms",
            "median of 50 installs through the test client, key cached",
            "—",
            "—",
        ],
        [
            "Bounded staleness: warm `authenticate()`, fresh request",
            f"{staleness['revalidate_1s']:.1f} µs",
            "with `TENANT_CACHE_REVALIDATE` out of reach (snapshot trusted, the old shape) "
            f"{staleness['trust_forever']:.1f} µs: "
            f"**{staleness['revalidate_1s'] / staleness['trust_forever']:.2f}×**",
            "≤ 1.05×",
            verdict(staleness["revalidate_1s"] <= 1.05 * staleness["trust_forever"]),
        ],
        [
            "Forged-token flood: queries per 1,000 forged tokens",
            f"{staleness['forged_1000_queries']:.0f}",
            f"{staleness['forged_us_each']:.0f} µs per refusal (log line included)",
            "≤ 2",
            verdict(staleness["forged_1000_queries"] <= 2),
        ],
        [
            "Forge: warm FIT verification (`verify_fit`)",
            f"{forge['ours']:.1f} µs",
            f"bare PyJWT RS256 decode of the same token {forge['floor']:.1f} µs: **{forge['ratio']:.2f}×**; "
            f"fresh request per call {forge['ours_request']:.1f} vs {forge['floor_request']:.1f} µs "
            f"(**{forge['ratio_request']:.2f}×**); JWKS fetches after warm-up: {forge['jwks_fetches_after_warm']:.0f}",
            "≤ 1.3×, 0 fetches",
            verdict(
                forge["ratio"] <= 1.3
                and forge["ratio_request"] <= 1.3
                and forge["jwks_fetches_after_warm"] == 0
            ),
        ],
        [
            "`/api/me` throughput, gunicorn 2 workers (one context token, remembered)",
            f"{e2e['auth_rps']:.0f} req/s",
            f"unauthenticated twin {e2e['open_rps']:.0f} req/s: **{e2e['ratio'] * 100:.0f} %**",
            "≥ 85 %",
            verdict(e2e["ratio"] >= 0.85),
        ],
    ]
    return rows


ACE_ROWS = (
    # endpoint, label, target ours/ACE (None: reported only)
    ("hello", "`/hello` (page token, qsh)", 1.3),
    ("hello_open", "`/hello-open`, its unauthenticated twin", None),
    ("me", "`/api/me` (one context token, as a front end sends it)", 1.2),
    ("me_fresh", "`/api/me`, a new context token on every request", 1.2),
    ("me_open", "`/api/me-open`, its unauthenticated twin", None),
)


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """Lowest to highest of per-round figures: how far one round may be from the median."""
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if values else "—"


def _round_ratios(ace: dict[str, Any], endpoint: str) -> list[float]:
    samples = ace.get("samples", {})
    return [
        o / a
        for o, a in zip(
            samples.get(f"ours_{endpoint}", []), samples.get(f"ace_{endpoint}", []), strict=True
        )
        if a
    ]


def _round_overheads(ace: dict[str, Any], endpoint: str, twin: str) -> list[float]:
    samples = ace.get("samples", {})
    pairs = zip(
        samples.get(f"ours_{endpoint}", []), samples.get(f"ours_{twin}_open", []), strict=True
    )
    return [100 * (1 - auth / open_) for auth, open_ in pairs if open_]


def ace_rows(ace: dict[str, Any]) -> list[list[str]]:
    rows = []
    skipped = "ace_skipped" in ace
    for endpoint, label, target in ACE_ROWS:
        if f"ours_{endpoint}_rps" not in ace:
            continue  # a result file from before this endpoint existed
        ours = f"{ace[f'ours_{endpoint}_rps']:.0f}"
        ours_cpu = ace.get(f"ours_{endpoint}_per_cpu_s")
        wanted = "—" if target is None else f"≥ {target}"
        if skipped:
            per_cpu = "—" if ours_cpu is None else f"{ours_cpu:.0f} / —"
            rows.append([label, ours, "—", "—", per_cpu, wanted, "skipped" if target else "—"])
            continue
        ratio = ace[f"ratio_{endpoint}"]
        cpu_ratio = ace.get(f"cpu_ratio_{endpoint}")
        per_cpu = (
            "—"
            if cpu_ratio is None
            else f"{ours_cpu:.0f} / {ace[f'ace_{endpoint}_per_cpu_s']:.0f}: "
            + (f"**{cpu_ratio:.2f}**" if target else f"{cpu_ratio:.2f}")
        )
        rows.append(
            [
                label,
                ours,
                f"{ace[f'ace_{endpoint}_rps']:.0f}",
                (f"**{ratio:.2f}**" if target else f"{ratio:.2f}")
                + f" ({_spread(_round_ratios(ace, endpoint))})",
                per_cpu,
                wanted,
                verdict(ratio >= target and (cpu_ratio is None or cpu_ratio >= target))
                if target
                else "—",
            ]
        )
    return rows


def overhead_rows(ace: dict[str, Any], views: dict[str, Any]) -> list[list[str]]:
    rows = []
    for endpoint, label in (
        ("hello", "`/hello`"),
        ("me", "`/api/me`, one context token"),
        ("me_fresh", "`/api/me`, a new context token each time"),
    ):
        if f"ours_{endpoint}_auth_overhead" not in ace or f"{endpoint}_us" not in views:
            continue
        ours = ace[f"ours_{endpoint}_auth_overhead"]
        theirs = (
            "—" if "ace_skipped" in ace else f"{ace[f'ace_{endpoint}_auth_overhead'] * 100:.0f} %"
        )
        twin = "me" if endpoint.startswith("me") else endpoint
        in_process = (
            f"{views[f'{endpoint}_us']:.0f} vs {views[f'{twin}_open_us']:.0f} µs; "
            f"verification {views[f'{endpoint}_auth_share'] * 100:.0f} % of the profile"
        )
        ours_cpu = ace.get(f"ours_{endpoint}_auth_overhead_cpu")
        measured = (
            f"**{ours * 100:.1f} %** (rounds: {_spread(_round_overheads(ace, endpoint, twin), '{:.0f} %')})"
            + ("" if ours_cpu is None else f"; per CPU-second **{ours_cpu * 100:.1f} %**")
        )
        ok = ours <= 0.10 and (ours_cpu is None or ours_cpu <= 0.10)
        rows.append([label, measured, theirs, in_process, "≤ 10 %", verdict(ok)])
    return rows


def housekeeping_rows(h: dict[str, Any]) -> list[list[str]]:
    if "skipped" in h:
        return [["`verify_installations`, 1 vs 4 workers", "—", h["skipped"], "≥ 3×", "skipped"]]
    return [
        [
            f"`verify_installations`, {h['tenants']:,} tenants, site answering in {h['latency_ms']:.0f} ms",
            f"{h['workers_1_seconds']:.0f} s / {h['workers_4_seconds']:.0f} s",
            f"1 / 4 Celery worker processes (Redis, {h['database']}, chunks of {h['chunk_size']}): "
            f"**{h['speedup']:.2f}×**; calls to the site {h['workers_1_calls']:,} / {h['workers_4_calls']:,} "
            "(each tenant once)",
            "≥ 3×",
            verdict(h["speedup"] >= 3),
        ],
        [
            "Database queries per tenant",
            f"{h['queries_per_tenant_warm']:.2f}",
            f"tenant cache warm; cold {h['queries_per_tenant_cold']:.2f} (its snapshot loaded: "
            "tenant and secrets); one chunk of 100 under `CaptureQueriesContext`",
            "—",
            "—",
        ],
    ]


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
- **Warm path**: one short version key read from Django's cache per request (local memory; or
  Redis, `redis://127.0.0.1:6379/15`, one round trip) with the tenant snapshot and decrypted
  secret in process memory.
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

`make bench` (about 25 minutes; it installs wrk with apt-get when run as root, npm installs ACE
once into `.bench-cache/`, git-ignored). Needs Redis on 127.0.0.1:6379 for the Redis and
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
