"""Where a worker's time goes: py-spy over the recommended server, in categories."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import (
    pinned,
)
from benchmarks.servers_config import PROFILE_SECONDS, PY_SPY
from benchmarks.servers_launch import Load, wrk

_CATEGORIES = (
    ("/django_atlassian_connect/", "ours (django_atlassian_connect)"),
    ("/connect_demo/", "the example's views"),
    ("/benchmarks/", "the example's views"),
    ("/rest_framework/", "Django REST framework"),
    ("/django/template/", "Django templates"),
    ("/django/", "Django (request, middleware, URLs, response)"),
    ("/jwt/", "PyJWT"),
    ("/granian/", "granian (Python side)"),
)


def _category(frame: str) -> str:
    return next((name for marker, name in _CATEGORIES if marker in frame), "stdlib and other")


def profile(pid: int, base: str, load: Load, cpus: str | None, tmp: Path) -> dict[str, Any]:
    """py-spy samples of ``pid`` while wrk drives ``load``: shares of the Python time."""
    out = tmp / f"profile-{pid}-{load.target[:8].strip('/').replace('/', '-')}.txt"
    command = [
        PY_SPY, "record", "--pid", str(pid), "--duration", str(PROFILE_SECONDS),
        "--rate", "250", "--format", "raw", "--full-filenames", "--nonblocking",
        "--output", str(out),
    ]  # fmt: skip
    spy = subprocess.Popen(
        pinned(command, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    wrk(base, load, seconds=PROFILE_SECONDS, cpus=cpus)
    _, err = spy.communicate(timeout=PROFILE_SECONDS + 60)
    if spy.returncode or not out.exists():
        return {"skipped": f"py-spy failed (exit {spy.returncode}): {err[-400:]}"}
    own: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    ours: Counter[str] = Counter()  # samples under our code, by our innermost frame
    inclusive_ours = total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        total += count
        own[_category(leaf)] += count
        functions[_function(leaf)] += count
        our_frames = [f for f in frames if "/django_atlassian_connect/" in f]
        if our_frames:
            inclusive_ours += count
            ours[_function(our_frames[-1])] += count
    if not total:
        return {"skipped": "py-spy took no samples"}
    return {
        "samples": total,
        "own": {k: v / total for k, v in own.most_common()},
        "ours_inclusive": inclusive_ours / total,
        "top": [[k, v / total] for k, v in functions.most_common(8)],
        "ours_top": [[k, v / total] for k, v in ours.most_common(6)],
    }


def _function(frame: str) -> str:
    """``file.py:function`` of a py-spy frame ``function (/path/file.py:line)``."""
    match = re.match(r"(.*) \((.*):\d+\)$", frame)
    return f"{Path(match.group(2)).name}:{match.group(1)}" if match else frame


# -- the run -------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"
