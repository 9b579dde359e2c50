"""A ready Celery beat schedule; merge it into yours::

    from django_atlassian_connect.celery import BEAT_SCHEDULE
    app.conf.beat_schedule = {**BEAT_SCHEDULE, **app.conf.beat_schedule}

Importing this module does not need Celery.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "atlassian-connect-refresh-access-tokens": {
        "task": "django_atlassian_connect.refresh_access_tokens",
        "schedule": 120.0,
    },
    "atlassian-connect-purge-retired-secrets": {
        "task": "django_atlassian_connect.purge_retired_secrets",
        "schedule": 6 * 3600.0,
    },
    "atlassian-connect-purge-seen-tokens": {
        "task": "django_atlassian_connect.purge_seen_tokens",
        "schedule": 6 * 3600.0,
    },
    "atlassian-connect-verify-installations": {
        "task": "django_atlassian_connect.verify_installations",
        "schedule": 24 * 3600.0,
    },
    "atlassian-connect-report-forge-tokens": {
        "task": "django_atlassian_connect.report_forge_tokens",
        "schedule": 3600.0,
    },
    "atlassian-connect-report-silent-forge-installations": {
        "task": "django_atlassian_connect.report_silent_forge_installations",
        "schedule": 6 * 3600.0,
    },
    "atlassian-connect-refresh-oauth-grants": {
        "task": "django_atlassian_connect.refresh_oauth_grants",
        "schedule": 600.0,
    },
}
