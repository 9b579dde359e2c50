"""Celery through the outages: one housekeeping task a second, as beat would send it.

The probe sends ``purge_retired_secrets`` (harmless here: nothing is older
than ``SECRET_RETENTION``) through the Redis broker and waits for its result
from the worker. Sending while Redis is down fails at once (no retries), so
each probe ends within ``RESULT_TIMEOUT`` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

TASK = "django_atlassian_connect.purge_retired_secrets"
RESULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Probe:
    at: float  # seconds since the run began, when sent
    seconds: float
    ok: bool
    error: str = ""

    @property
    def ended(self) -> float:
        return self.at + self.seconds


class CeleryProbe:
    def __init__(self, broker_url: str, began: float, interval: float = 1.0) -> None:
        from celery import Celery

        self.app = Celery("soak-probe", broker=broker_url, backend=broker_url)
        self.app.conf.update(
            broker_connection_retry_on_startup=False,
            broker_connection_max_retries=0,
            broker_connection_timeout=2,
            redis_socket_connect_timeout=2,
            redis_socket_timeout=RESULT_TIMEOUT,
            result_expires=600,
        )
        self.began = began
        self.interval = interval
        self.probes: list[Probe] = []

    def run(self, until: float, stopping: threading.Event) -> None:
        next_at = time.monotonic()
        while time.monotonic() < until:
            if stopping.wait(max(0.0, next_at - time.monotonic())):
                return
            next_at += self.interval
            sent = time.monotonic()
            try:
                ok, error = self._round_trip(sent + RESULT_TIMEOUT)
            except Exception as exc:  # any failure of the broker or the result store
                ok, error = False, type(exc).__name__
            self.probes.append(Probe(sent - self.began, time.monotonic() - sent, ok, error))

    def _round_trip(self, deadline: float) -> tuple[bool, str]:
        """Send the task, then poll its state (plain reads: they reconnect after a
        restart, which ``get()``'s subscription does not)."""
        result = self.app.send_task(TASK, retry=False)
        while time.monotonic() < deadline:
            state = result.state
            if state == "SUCCESS":
                return True, ""
            if state == "FAILURE":
                return False, type(result.result).__name__
            time.sleep(0.05)
        return False, "no result"
