"""A soak test with faults, over real HTTP: ``python -m benchmarks.soak [--duration 600]``.

The example project under gunicorn (4 workers) on PostgreSQL, its tenant
cache and Celery on Redis, a Celery worker, and simulated Jira sites and
Forge on 127.0.0.1 (see :mod:`benchmarks.soak.stack`). Mixed traffic over
200 tenants (pages, context-token API calls, webhooks, Forge invocations and
lifecycle events, installs, secret rotations, uninstalls and reinstalls) for
``--duration`` seconds, while Redis is stopped at a third of the run and
PostgreSQL at two thirds, each held down ``--outage`` seconds and started
again; Atlassian's install key changes as each goes down. Then the checks of
:mod:`benchmarks.soak.verify`, the figures of :mod:`benchmarks.soak.figures`
(printed, and written as JSON with ``--json PATH``) and exit status 1 when a
target is missed (2 when the soak cannot run here).

It runs its own PostgreSQL cluster and Redis server (:mod:`benchmarks.soak.services`):
root or sudo, and the Debian packages ``postgresql`` and ``redis-server``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import machine
from benchmarks.soak import figures, services
from benchmarks.soak.report import render
from benchmarks.soak.run import soak


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--duration", type=float, default=600, help="seconds of traffic (600; CI 120)"
    )
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--clients", type=int, default=12, help="client threads")
    parser.add_argument("--rate", type=float, default=60, help="requests per second, in all")
    parser.add_argument("--outage", type=float, default=10, help="seconds each service stays down")
    parser.add_argument(
        "--grace",
        type=float,
        default=15,
        help="seconds after a restart still counted in its outage",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--forge-every", type=int, default=5, help="every n-th site is also on Forge"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.duration < 3 * (args.outage + args.grace):
        parser.error("--duration must leave room for two outages and their grace")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    reason = services.why_not()
    if reason:
        print(f"soak: cannot run here: {reason}", file=sys.stderr)
        return 2
    # SIGTERM ends the run like Ctrl-C: the services and servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Celery prefers CELERY_BROKER_URL from the environment to the broker it is
    # given (.ci/run exports the shared one): everything here uses the soak's own.
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    tmp = Path(tempfile.mkdtemp(prefix="dac-soak-"))
    started = datetime.now(UTC)
    pg = services.PostgresCluster()
    redis = services.RedisServer(tmp / "redis.log")
    try:
        pg.create()
        redis.start()
        result = soak(args, tmp, pg, redis)
    finally:
        redis.stop()
        pg.drop()
    result["settings"] = {
        key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
    }
    result["machine"] = machine()
    result["started_utc"] = started.strftime("%Y-%m-%d %H:%M UTC")
    result["logs"] = str(tmp)
    result["targets"] = figures.targets(result)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0 if all(t["met"] for t in result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
