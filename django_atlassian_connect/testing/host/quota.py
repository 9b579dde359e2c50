"""The site's rate limit: an hourly points quota per tenant, as Jira Cloud enforces it.

``ConnectHost(quota=QuotaPolicy(limit=10))`` (or ``host.enforce_quota(...)``)
charges each REST call of the app ``cost`` points in a window of ``window``
seconds and answers it with ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``,
``X-RateLimit-Reset`` (ISO 8601) and ``X-RateLimit-NearLimit`` (``true`` once
fewer than ``near_limit_at`` of the points remain). Once the points are spent,
calls get 429 with ``RateLimit-Reason`` and ``Retry-After`` (seconds to the
reset; ``retry_after=False`` leaves only ``X-RateLimit-Reset``), until the
window ends. ``beta=True`` spells the headers ``Beta-RateLimit-*`` and
``Beta-Retry-After``, as some sites do. Refused calls cost nothing.

Nothing here imports another module of this package.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Quota", "QuotaPolicy"]


@dataclass(frozen=True)
class QuotaPolicy:
    """How many points the app may spend per ``window`` seconds on one site."""

    limit: int
    window: float = 3600.0
    near_limit_at: float = 0.2  # NearLimit below this share of the limit remaining
    reason: str = "jira-quota-global-based"
    retry_after: bool = True  # False: a 429 says when only by X-RateLimit-Reset
    cost: int = 1  # points per call
    beta: bool = False  # Beta-RateLimit-* / Beta-Retry-After instead of X-RateLimit-*


class Quota:
    """Points spent per tenant in the current window (thread-safe; ``clock`` injectable)."""

    def __init__(self, policy: QuotaPolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self._used: dict[str, int] = {}
        self._window_start: dict[str, float] = {}
        self._lock = threading.Lock()

    def used(self, tenant: str) -> int:
        """Points ``tenant`` spent in its current window."""
        with self._lock:
            self._roll(tenant, self.clock())
            return self._used.get(tenant, 0)

    def charge(self, tenant: str) -> tuple[bool, dict[str, str]]:
        """``(allowed, headers)`` for one call of ``tenant``; a refused call is not charged."""
        policy = self.policy
        with self._lock:
            now = self.clock()
            start = self._roll(tenant, now)
            # Rounded up: a caller that waits until the stated reset finds the window over.
            reset = math.ceil(start + policy.window)
            used = self._used.get(tenant, 0)
            allowed = used + policy.cost <= policy.limit
            if allowed:
                used += policy.cost
                self._used[tenant] = used
        remaining = max(0, policy.limit - used)
        prefix = "Beta-RateLimit-" if policy.beta else "X-RateLimit-"
        headers = {
            prefix + "Limit": str(policy.limit),
            prefix + "Remaining": str(remaining),
            prefix + "Reset": datetime.fromtimestamp(reset, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            prefix + "NearLimit": "true"
            if not allowed or remaining < policy.limit * policy.near_limit_at
            else "false",
        }
        if not allowed:
            headers["Beta-RateLimit-Reason" if policy.beta else "RateLimit-Reason"] = policy.reason
            if policy.retry_after:
                wait = max(1, math.ceil(reset - now))
                headers["Beta-Retry-After" if policy.beta else "Retry-After"] = str(wait)
        return allowed, headers

    def _roll(self, tenant: str, now: float) -> float:
        """The start of ``tenant``'s current window (a new one once the last has ended)."""
        start = self._window_start.get(tenant)
        if start is None or now >= start + self.policy.window:
            start = self._window_start[tenant] = now
            self._used[tenant] = 0
        return start
