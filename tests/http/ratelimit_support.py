"""Helpers of the rate-limit tests: a clock that moves when slept on, ISO times, a quota."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


QUOTA = {
    "X-RateLimit-Limit": "100",
    "X-RateLimit-Remaining": "12",
    "X-RateLimit-Reset": "2026-03-02T14:00Z",
    "X-RateLimit-NearLimit": "true",
}
