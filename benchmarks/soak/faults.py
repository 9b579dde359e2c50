"""The faults: a service stopped at a set point, held down, started again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Outage:
    """One restart, in seconds since the run began."""

    service: str
    stopped_at: float  # the stop command was issued
    back_at: float  # the service accepts connections again
    start_seconds: float  # from the start command until it accepted

    def holds(self, at: float, ended: float, grace: float) -> bool:
        """Whether a request sent at ``at`` and answered at ``ended`` overlaps the
        outage or the ``grace`` seconds after it (one in flight when the service
        stopped belongs to the outage)."""
        return at <= self.back_at + grace and ended >= self.stopped_at


def restart(
    service: str,
    stop: Callable[[], None],
    start: Callable[[], float],
    *,
    hold: float,
    began: float,
    on_stop: Callable[[], None] = lambda: None,
) -> Outage:
    """Stop ``service``, keep it down ``hold`` seconds, start it; ``on_stop`` runs first."""
    stopped_at = time.monotonic() - began
    on_stop()
    stop()
    time.sleep(hold)
    start_seconds = start()
    return Outage(service, stopped_at, time.monotonic() - began, start_seconds)
