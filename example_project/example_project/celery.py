"""The example project's Celery app.

Without ``CELERY_BROKER_URL`` tasks run eagerly in-process; with it (e.g.
``redis://127.0.0.1:6379/0``) a worker runs them::

    celery -A example_project worker --beat
"""

import os

from celery import Celery

from django_atlassian_connect.celery import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {**BEAT_SCHEDULE, **(app.conf.beat_schedule or {})}
app.autodiscover_tasks()
