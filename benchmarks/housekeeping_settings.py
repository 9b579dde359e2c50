"""Settings of the housekeeping benchmark: the test settings, with what workers share.

The database from ``DATABASE_URL`` (an SQLite file by default, written by
every worker: IMMEDIATE transactions, a busy timeout), the cache (tenant
snapshots and the housekeeping claims) and the Celery broker on Redis
(``BENCH_REDIS_URL``, databases 14 and 13).
"""

import os

from tests.settings import *  # noqa: F403

_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{_REDIS}/14",
    }
}
CELERY_BROKER_URL = f"{_REDIS}/13"
CELERY_RESULT_BACKEND = f"{_REDIS}/13"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # chunks spread evenly over the processes
ATLASSIAN_CONNECT = {
    **ATLASSIAN_CONNECT,  # noqa: F405
    "APP_KEY": "com.example.bench",
    "ALLOWED_PRODUCT_HOSTS": ["127.0.0.1"],
}
LOGGING = {"version": 1, "disable_existing_loggers": True}
