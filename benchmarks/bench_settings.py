"""The example project plus an unauthenticated twin of /api/me, for throughput runs."""

from example_project.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": True}
