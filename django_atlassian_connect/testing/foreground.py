"""Run simulators in the foreground until Ctrl-C or SIGTERM (the ``python -m`` entry points)."""

from __future__ import annotations

import argparse
import signal
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .forge.records import APP_PREFIX

#: The line that says the entry point is up and a signal now stops it cleanly.
READY = "Ctrl-C or SIGTERM stops it."


def say(line: str) -> None:
    """Print at once: the entry points' output is read line by line through pipes."""
    print(line, flush=True)


def forge_app_uuid(value: str) -> str:
    """An ``--app-id`` / ``--forge-app-id`` argument: the manifest's app.id, ARI or bare uuid."""
    try:
        return str(uuid.UUID(value.removeprefix(APP_PREFIX)))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Forge app id: use '{APP_PREFIX}<uuid>' or the bare uuid"
        ) from None


def run_until_signalled(stop: Callable[[], None], *, announce: Callable[[str], Any] = say) -> int:
    """Block until SIGINT or SIGTERM, then ``stop()`` the servers; the exit status (0).

    SIGTERM (a service manager, ``kill``, a test) stops as cleanly as Ctrl-C:
    the servers are shut down and their ports closed before the process ends.
    """
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Only now: a signal sent as soon as this line is read is handled, never fatal.
    announce(READY)
    try:
        # A timeout, so the main thread wakes up to run the handler on every platform.
        while not stopping.wait(0.2):
            pass
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    announce("Stopped.")
    return 0
