"""The server benchmark's figures as the docs show them (docs/_generated/servers.inc)."""

from __future__ import annotations

import json
import statistics
from typing import Any

from benchmarks.servers_config import (
    ACE,
    ENDPOINT_LABELS,
    ENDPOINTS,
    OUT_DIR,
    OVERHEAD_TARGET,
    PROFILE_SECONDS,
    RECOMMENDED,
    TARGETS,
    TWINS,
)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarise(result: dict[str, Any]) -> None:
    """Medians, per-round ratios to ACE and authentication overheads, in place."""
    samples, per_cpu = result["samples"], result["samples_per_cpu_s"]
    result["median_rps"] = {n: {e: _median(v) for e, v in s.items()} for n, s in samples.items()}
    result["median_per_cpu_s"] = {
        n: {e: _median(v) for e, v in s.items()} for n, s in per_cpu.items()
    }
    overhead: dict[str, dict[str, dict[str, Any]]] = {}
    for name, by_endpoint in samples.items():
        overhead[name] = {}
        for endpoint, twin in TWINS.items():
            rounds = [
                1 - a / o
                for a, o in zip(by_endpoint[endpoint], by_endpoint[twin], strict=True)
                if o
            ]
            cpu = per_cpu[name]
            cpu_rounds = [1 - a / o for a, o in zip(cpu[endpoint], cpu[twin], strict=True) if o]
            overhead[name][endpoint] = {
                "median": _median(rounds),
                "rounds": rounds,
                "per_cpu_s": _median(cpu_rounds),
            }
    result["auth_overhead"] = overhead
    if ACE not in samples:
        return
    versus: dict[str, dict[str, dict[str, Any]]] = {}
    for name, by_endpoint in samples.items():
        if name == ACE:
            continue
        versus[name] = {}
        for endpoint in ENDPOINTS:
            ace = samples[ACE][endpoint]
            rounds = [o / a for o, a in zip(by_endpoint[endpoint], ace, strict=True) if a]
            cpu_rounds = [
                o / a
                for o, a in zip(per_cpu[name][endpoint], per_cpu[ACE][endpoint], strict=True)
                if a
            ]
            versus[name][endpoint] = {
                "median": _median(rounds),
                "rounds": rounds,
                "per_cpu_s": _median(cpu_rounds),
            }
    result["versus_ace"] = versus


# -- the page ------------------------------------------------------------------------


def _spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if values else "—"


def _list_table(header: list[str], rows: list[list[str]], widths: str | None = None) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return [*lines, ""]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(result: dict[str, Any], *, smoke: bool) -> str:
    names = [n for n in result["median_rps"] if n != ACE]
    has_ace = ACE in result["median_rps"]
    columns = [*names, *([ACE] if has_ace else [])]
    title = {**result["servers"], ACE: "ACE 11.5.3 (node)"}
    lines = [
        ".. This file is written by benchmarks/bench_servers.py (make bench-servers).",
        "   Do not edit it: run the benchmark again.",
        "",
    ]
    if smoke:
        lines += [
            ".. warning::",
            "",
            "   **Smoke run, not the figures to quote**: "
            f"{result['rounds']} round(s) of {result['seconds']} s on a machine shared with "
            "other work. ``make bench-servers`` on a quiet machine overwrites this file.",
            "",
        ]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    lines += [
        f"Measured {result['at']} UTC by ``make bench-servers`` in {result['minutes']} min. "
        f"Machine: {result['machine']}. {versions}. {result['pinned']}; wrk, one thread, "
        f"{result['connections']} connections; {result['rounds']} interleaved round(s) of "
        f"{result['seconds']} s per endpoint and server; load average before "
        f"{result['loadavg_before']}, after {result['loadavg_after']}.",
        "",
    ]
    if "ace_skipped" in result:
        lines += [f"ACE was not measured: {result['ace_skipped']}", ""]

    rps = result["median_rps"]
    samples = result["samples"]
    lines += [
        "Requests per second, one worker process on one core: median (per-round range).",
        "",
        *_list_table(
            ["endpoint", *[title[c] for c in columns]],
            [
                [
                    ENDPOINT_LABELS[e],
                    *[f"{rps[c][e]:,.0f} ({_spread(samples[c][e], '{:,.0f}')})" for c in columns],
                ]
                for e in ENDPOINTS
            ],
        ),
    ]
    overhead = result["auth_overhead"]
    lines += [
        "Authentication overhead: 1 − requests/s ÷ requests/s of the unauthenticated twin, "
        "same server, per round; median (per-round range). Target ≤ 10 % on every row.",
        "",
        *_list_table(
            ["server", *[ENDPOINT_LABELS[e] for e in TWINS]],
            [
                [
                    title[c],
                    *[
                        f"{overhead[c][e]['median'] * 100:.1f} % "
                        f"({_spread(overhead[c][e]['rounds'], '{:.0%}')})"
                        for e in TWINS
                    ],
                ]
                for c in columns
            ],
        ),
    ]
    if has_ace:
        versus = result["versus_ace"]
        lines += [
            "Ours ÷ ACE, per round (the pair measured seconds apart); median (per-round range).",
            "",
            *_list_table(
                ["server", *[ENDPOINT_LABELS[e] for e in ENDPOINTS]],
                [
                    [
                        title[n],
                        *[
                            f"{versus[n][e]['median']:.2f} ({_spread(versus[n][e]['rounds'], '{:.2f}')})"
                            for e in ENDPOINTS
                        ],
                    ]
                    for n in names
                ],
            ),
        ]
    lines += _targets(result, title)
    lines += _profile_lines(result)
    return "\n".join(lines).rstrip() + "\n"


def _targets(result: dict[str, Any], title: dict[str, str]) -> list[str]:
    if RECOMMENDED not in result["median_rps"]:
        return []
    rows = []
    versus = result.get("versus_ace", {}).get(RECOMMENDED)
    for endpoint in ("hello", "hello_fresh", "me", "me_fresh"):
        target = TARGETS.get(endpoint)
        if versus is None:
            rows.append([f"{ENDPOINT_LABELS[endpoint]}: ours ÷ ACE", "—", "—", "—", "skipped"])
            continue
        cell = versus[endpoint]
        rows.append(
            [
                f"{ENDPOINT_LABELS[endpoint]}: ours ÷ ACE",
                f"**{cell['median']:.2f}** ({_spread(cell['rounds'], '{:.2f}')})",
                f"{cell['per_cpu_s']:.2f}",
                f"≥ {target}" if target else "reported",
                _verdict(cell["median"] >= target) if target else "—",
            ]
        )
    for endpoint in TWINS:
        cell = result["auth_overhead"][RECOMMENDED][endpoint]
        rows.append(
            [
                f"{ENDPOINT_LABELS[endpoint]}: authentication overhead",
                f"**{cell['median'] * 100:.1f} %** ({_spread(cell['rounds'], '{:.0%}')})",
                f"{cell['per_cpu_s'] * 100:.1f} %",
                "≤ 10 %",
                _verdict(cell["median"] <= OVERHEAD_TARGET),
            ]
        )
    return [
        f"Targets, on the recommended server ({title[RECOMMENDED]}):",
        "",
        *_list_table(
            ["what", "median (per-round range)", "per CPU-second", "target", ""],
            rows,
            "40 20 14 12 14",
        ),
    ]


def _profile_lines(result: dict[str, Any]) -> list[str]:
    profiles = result.get("profile")
    if not profiles:
        return []
    if "skipped" in profiles:
        return [f"No profile of the worker: {profiles['skipped']}", ""]
    lines = [
        "Where the recommended server's worker spends its Python time (py-spy, "
        f"{PROFILE_SECONDS} s at 250 Hz under the same load; the Rust side of granian and the "
        "kernel are not sampled). Own time by where the innermost frame is; *ours, "
        "inclusive*: samples with any frame in ``django_atlassian_connect`` (what it calls, "
        "PyJWT and hashlib included).",
        "",
    ]
    for endpoint, data in profiles.items():
        if "skipped" in data:
            lines += [f"{ENDPOINT_LABELS[endpoint]}: {data['skipped']}", ""]
            continue
        own = "; ".join(f"{name} {share:.0%}" for name, share in data["own"].items())
        top = ", ".join(f"``{name}`` {share:.1%}" for name, share in data["top"][:6])
        ours = ", ".join(f"``{name}`` {share:.1%}" for name, share in data["ours_top"])
        lines += [
            f"* {ENDPOINT_LABELS[endpoint]} ({data['samples']:,} samples): "
            f"**ours, inclusive: {data['ours_inclusive']:.0%}** ({ours or 'no sample'}). "
            f"Own time: {own}. Top functions: {top}.",
        ]
    return [*lines, ""]


def write(result: dict[str, Any], *, smoke: bool) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result["smoke"] = smoke
    (OUT_DIR / "servers.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (OUT_DIR / "servers.inc").write_text(render(result, smoke=smoke), encoding="utf-8")
    print(f"wrote {OUT_DIR / 'servers.inc'} and servers.json", flush=True)
