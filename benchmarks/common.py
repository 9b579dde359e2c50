"""Shared set-up for the benchmarks: Django on a throw-away SQLite file."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(db_path: str | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    db_path = db_path or os.path.join(tempfile.mkdtemp(prefix="dac-bench-"), "bench.sqlite3")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"].pop("TEST", None)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def per_call_us(func: Callable[[], object], *, number: int = 2000, repeat: int = 7) -> float:
    """Best-of-``repeat`` mean time of one call, in microseconds."""
    func()
    timings = timeit.repeat(func, number=number, repeat=repeat)
    return min(timings) / number * 1e6


def median_us(func: Callable[[], object], *, runs: int = 200) -> float:
    samples = []
    for _ in range(runs):
        start = timeit.default_timer()
        func()
        samples.append((timeit.default_timer() - start) * 1e6)
    return statistics.median(samples)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    import django
    import jwt

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"Django {django.get_version()}, PyJWT {jwt.__version__}, {platform.system()} {platform.release()}"
    )
