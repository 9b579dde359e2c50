"""Housekeeping as plain functions: Celery tasks and management commands call these.

Each is idempotent and safe to run concurrently with itself. The jobs live
with the door they work on (:mod:`django_atlassian_connect.connect.housekeeping`,
:mod:`django_atlassian_connect.forge.housekeeping`,
:mod:`django_atlassian_connect.threelo.housekeeping`); this module is their
one public path, the names below are those very functions.
"""

from __future__ import annotations

from .connect.housekeeping import (
    DEFERRED,
    VERIFY_INSTALLATIONS,
    due_installation_pks,
    purge_retired_secrets,
    purge_seen_tokens,
    refresh_access_tokens,
    verify_endpoint,
    verify_installation,
    verify_installations,
    verify_installations_batch,
)
from .forge.housekeeping import FORGE_TRIGGER_INTERVAL, report_forge_tokens
from .forge.housekeeping import report_silent_installations as report_silent_forge_installations
from .threelo.housekeeping import refresh_oauth_grants

__all__ = [
    "DEFERRED",
    "FORGE_TRIGGER_INTERVAL",
    "VERIFY_INSTALLATIONS",
    "due_installation_pks",
    "purge_retired_secrets",
    "purge_seen_tokens",
    "refresh_access_tokens",
    "refresh_oauth_grants",
    "report_forge_tokens",
    "report_silent_forge_installations",
    "verify_endpoint",
    "verify_installation",
    "verify_installations",
    "verify_installations_batch",
]
