"""The system under test, on 127.0.0.1.

The example project under gunicorn (4 worker processes) on the soak's
PostgreSQL, its tenant cache (``CONNECT_CACHE_URL``) and Celery broker on the
soak's Redis, a Celery worker, an install-key CDN for the simulated sites and
the simulated Forge platform. The helpers are the e2e suite's
(``tests/e2e``), so the soak runs the app exactly as those tests do.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import rss_kib, stop_process
from benchmarks.soak.services import RedisServer
from django_atlassian_connect.testing import InstallKeyServer
from django_atlassian_connect.testing.forge import ForgePlatform
from tests.e2e.conftest import ExampleApp, start_celery_worker, start_example_app
from tests.e2e.test_forge_example import APP_KEY, forge_env

#: Redis databases: the Celery broker (and result backend), the tenant cache.
BROKER_DB, CACHE_DB = 0, 1


@dataclass
class Stack:
    app: ExampleApp
    worker: subprocess.Popen
    keys: InstallKeyServer
    forge: ForgePlatform
    broker_url: str

    @property
    def url(self) -> str:
        return self.app.base_url

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (the children of its master), by pid."""
        master = self.app.process.pid
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
            if parent == master:
                pids.append(int(entry))
        return sorted(pids)

    def worker_memory(self) -> dict[int, int]:
        """Resident memory of each gunicorn worker, KiB by pid."""
        return {pid: rss_kib(pid) for pid in self.worker_pids()}

    def stop(self) -> None:
        stop_process(self.worker)
        stop_process(self.app.process)
        self.forge.stop()
        self.keys.stop()


def start_stack(
    tmp: Path,
    *,
    database_url: str,
    redis: RedisServer,
    keys: InstallKeyServer,
    workers: int = 4,
    threads: int = 8,
) -> Stack:
    """Start the key CDN, Forge, the app (migrated) and a Celery worker; stop them on failure."""
    keys.start()
    forge = ForgePlatform(connect_key=APP_KEY).start()
    broker_url = redis.url(BROKER_DB)
    env = {
        "DATABASE_URL": database_url,
        "CONNECT_CACHE_URL": redis.url(CACHE_DB),
        "CELERY_BROKER_URL": broker_url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        **forge_env(forge),
    }
    app = worker = None
    try:
        app = start_example_app(
            tmp, keys.url, env, server="gunicorn", workers=workers, threads=threads
        )
        forge.remote_base_url = app.base_url
        worker, _ = start_celery_worker(app, broker_url, tmp / "celery.log")
    except BaseException:
        if app is not None:
            stop_process(app.process)
        forge.stop()
        keys.stop()
        raise
    return Stack(app=app, worker=worker, keys=keys, forge=forge, broker_url=broker_url)
