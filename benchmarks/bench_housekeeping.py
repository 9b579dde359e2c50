"""Housekeeping at scale: ``verify_installations`` over 10,000 tenants, 1 vs 4 Celery workers.

The simulated site (``testing.host.ConnectHost``) answers every app call
after ``latency`` seconds (50 ms: what a product's REST API takes), checking
the JWT as the product does. ``tenants`` installations (default 10,000) all
point at it. Celery runs on Redis (broker, results; the tenant cache and the
housekeeping claims are on Redis too); the database is an SQLite file that
every worker writes (``DATABASE_URL`` may point at PostgreSQL instead).

For 1 and then 4 worker processes (``celery worker --concurrency N``, prefork):
start the workers, send ``verify_installations`` (a worker fans it out, one
chunk task per ``HOUSEKEEPING_CHUNK_SIZE`` tenants), and time until every
tenant's ``last_verified_at`` is set; each tenant must be verified exactly
once (the site counts the calls). The speed-up is the ratio of the two
wall times.

Database queries per tenant: one chunk of 100 tenants verified in this
process (``verify_installations_batch``) under ``CaptureQueriesContext``,
with the tenant cache cold and then warm.

Skipped, with the reason, without Redis (``.ci/services start`` starts one)
or without Celery (``pip install celery[redis]``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import stop_process

ROOT = Path(__file__).resolve().parents[1]
TENANTS = int(os.environ.get("BENCH_HOUSEKEEPING_TENANTS", "10000"))
LATENCY = float(os.environ.get("BENCH_HOUSEKEEPING_LATENCY", "0.05"))
SECRET = "ATCO" + "h" * 60
APP_KEY = "com.example.bench"


def why_not() -> str | None:
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'celery[redis]')"
    from benchmarks.bench_inbound import REDIS_URL, redis_available

    return redis_available(REDIS_URL)


def _environment(db_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.housekeeping_settings",
        "DAC_SQLITE_IMMEDIATE": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{db_path}")
    return env


def _start_workers(processes: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "celery", "-A", "benchmarks.housekeeping_celery", "worker",
        "--concurrency", str(processes), "--pool", "prefork", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"bench-{processes}@%h",
    ]  # fmt: skip
    worker = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    from benchmarks.housekeeping_celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if any(f"bench-{processes}@" in name for reply in replies for name in reply):
            return worker
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited:\n{log.read_text()[-2000:]}")
    raise RuntimeError(f"the Celery worker did not answer in 60 s:\n{log.read_text()[-2000:]}")


def run(tenants: int = TENANTS) -> dict[str, object]:
    reason = why_not()
    if reason is not None:
        print(f"housekeeping benchmark skipped: {reason}", flush=True)
        return {"skipped": reason}
    tmp = Path(tempfile.mkdtemp(prefix="dac-bench-housekeeping-"))
    env = _environment(tmp / "housekeeping.sqlite3")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from benchmarks.housekeeping_celery import app
    from django_atlassian_connect import crypto, maintenance, tasks
    from django_atlassian_connect.conf import connect_settings
    from django_atlassian_connect.connect import tenant_cache
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.testing.host import ConnectHost
    from django_atlassian_connect.testing.host.state import SecretRecord

    call_command("migrate", verbosity=0)
    cache.clear()
    app.control.purge()

    host = ConnectHost().start()
    host.descriptor = {"key": APP_KEY, "baseUrl": "http://127.0.0.1", "scopes": ["READ"]}
    host.secrets = [SecretRecord(SECRET, time.time())]
    host.installed = True
    host.rest_latency = LATENCY
    calls_before = len(host.log)

    started = time.perf_counter()
    fingerprint = crypto.fingerprint(SECRET)
    for first in range(0, tenants, 1000):
        rows = Tenant.objects.bulk_create(
            Tenant(
                client_key=f"jira:bench-{number}",
                app_key=APP_KEY,
                base_url=host.base_url,
                product_type="jira",
            )
            for number in range(first, min(first + 1000, tenants))
        )
        SharedSecret.objects.bulk_create(
            SharedSecret(tenant=row, secret=SECRET, fingerprint=fingerprint) for row in rows
        )
    result: dict[str, object] = {
        "tenants": tenants,
        "latency_ms": LATENCY * 1000,
        "chunk_size": connect_settings.HOUSEKEEPING_CHUNK_SIZE,
        "fill_seconds": time.perf_counter() - started,
        "database": connection.vendor,
    }

    # Queries per tenant, one chunk of 100 in this process: cold then warm tenant cache.
    sample = list(Tenant.objects.order_by("pk").values_list("pk", flat=True)[:100])
    for label in ("cold", "warm"):
        if label == "cold":
            tenant_cache.clear_process_memory()
            cache.clear()
        Tenant.objects.filter(pk__in=sample).update(last_verified_at=None)
        with CaptureQueriesContext(connection) as queries:
            counts = maintenance.verify_installations_batch(sample)
        assert counts["ok"] == len(sample), counts
        result[f"queries_per_tenant_{label}"] = len(queries) / len(sample)

    try:
        for processes in (1, 4):
            Tenant.objects.update(last_verified_at=None, verification_status="")
            calls_before = len(host.log)
            worker = _start_workers(processes, env, tmp / f"worker-{processes}.log")
            try:
                began = timezone.now()
                clock = time.perf_counter()
                tasks.verify_installations.apply_async()
                deadline = clock + tenants * LATENCY * 3 + 300
                while True:
                    done = Tenant.objects.filter(last_verified_at__gte=began).count()
                    if done >= tenants:
                        break
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"{done} of {tenants} verified before the deadline")
                    time.sleep(0.25)
                wall = time.perf_counter() - clock
            finally:
                stop_process(worker, 30)
            calls = len(host.log) - calls_before
            ok = Tenant.objects.filter(verification_status="ok").count()
            result[f"workers_{processes}_seconds"] = wall
            result[f"workers_{processes}_calls"] = calls
            result[f"workers_{processes}_ok"] = ok
            print(
                f"  {processes} worker process(es): {wall:.1f} s, {calls} calls, {ok} ok",
                flush=True,
            )
    finally:
        host.stop()
        cache.clear()
        app.control.purge()
    result["speedup"] = result["workers_1_seconds"] / result["workers_4_seconds"]  # type: ignore[operator]
    return result


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else TENANTS))
