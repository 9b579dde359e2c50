#!/usr/bin/env python
"""Serve the example Connect app as in production: granian, WSGI, N worker processes.

    python example_project/serve.py --bind 0.0.0.0:8000 --workers 4

The server and its settings are the ones ``docs/deployment.rst`` recommends
from the figures ``make bench-servers`` measures: granian's WSGI interface,
one worker process per core, ``--threads`` blocking threads per worker (4
by default) running Django, HTTP/1.1 behind your TLS-terminating proxy, no
access log (the product puts tokens in page URLs), a crashed worker
respawned, 30 s for workers to finish their requests on shutdown.

It reads the same environment variables as ``manage.py`` (see
``example_project/settings.py``: ``DATABASE_URL``, ``CONNECT_BASE_URL``,
``CONNECT_CACHE_URL``, ...), with one difference: ``DJANGO_DEBUG`` defaults to
``0`` here, since this is the production server (set ``DJANGO_DEBUG=1``
explicitly to debug under it). ``DJANGO_SETTINGS_MODULE`` is honoured when set.

Migrations run first (``migrate --noinput``), so the one command serves a
fresh SQLite file; a deployment that migrates in a release step of its own
passes ``--no-migrate``.

SIGTERM or SIGINT stops the workers (each finishes the requests it holds, for
at most ``--graceful-timeout`` seconds) and exits 0; SIGHUP respawns them one by
one (a code reload without dropping the port). This process becomes granian's
main process (``exec``): its pid is the one to signal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Blocking threads per worker: Python runs one at a time (the GIL), but a
#: request waiting on the database or on the product lets another run.
THREADS = 4
GRACEFUL_TIMEOUT = 30


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="serve.py",
        description="Serve the example project under granian (WSGI), as in production.",
    )
    parser.add_argument(
        "--bind", default="127.0.0.1:8000", metavar="HOST:PORT", help="default 127.0.0.1:8000"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=_cores(),
        metavar="N",
        help="worker processes; default one per CPU this process may run on (%(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        metavar="T",
        help="blocking threads per worker that run Django (default %(default)s)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=int,
        default=GRACEFUL_TIMEOUT,
        metavar="SECONDS",
        help="on SIGTERM, how long workers may finish their requests (default %(default)s)",
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not run `migrate --noinput` first"
    )
    args = parser.parse_args(argv)
    host, sep, port = args.bind.rpartition(":")
    if not sep or not host or not port.isdigit():
        parser.error(f"--bind takes HOST:PORT, not {args.bind!r}")
    args.host, args.port = host.strip("[]"), int(port)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads are at least 1")
    return args


def granian_command(args: argparse.Namespace) -> list[str]:
    """The granian command line serving the example project with ``args``."""
    return [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--host", args.host,
        "--port", str(args.port),
        "--workers", str(args.workers),
        "--blocking-threads", str(args.threads),
        "--runtime-threads", "1",
        "--http", "1",
        "--no-access-log",
        "--respawn-failed-workers",
        "--workers-kill-timeout", str(args.graceful_timeout),
        "--log-level", "info",
        "example_project.wsgi:application",
    ]  # fmt: skip


def prepare_environment() -> None:
    """What ``manage.py`` sets up, for this process and the server it becomes."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    # The project's own modules, then the package from this checkout (as manage.py).
    paths = [str(HERE), str(HERE.parent)]
    sys.path[:0] = [p for p in paths if p not in sys.path]
    inherited = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, *([inherited] if inherited else [])])


def migrate() -> None:
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("migrate", interactive=False, verbosity=1)
    connections.close_all()  # nothing open is handed on to the server


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    prepare_environment()
    if not args.no_migrate:
        migrate()
    command = granian_command(args)
    sys.stdout.flush()
    sys.stderr.flush()
    # granian's main process replaces this one: it handles SIGTERM/SIGINT (stop the
    # workers, exit 0) and SIGHUP (respawn them), and its pid is the one callers hold.
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
