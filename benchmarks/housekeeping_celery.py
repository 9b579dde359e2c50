"""The Celery app the housekeeping benchmark's workers run (``celery -A benchmarks.housekeeping_celery``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.housekeeping_settings")

import django

django.setup()

app = Celery("dac_bench_housekeeping")
app.config_from_object("django.conf:settings", namespace="CELERY")

import django_atlassian_connect.tasks  # noqa: E402, F401  (registers the tasks)
