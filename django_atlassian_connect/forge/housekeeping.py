"""Forge's housekeeping: installations whose app system token runs out, and
installations that went silent (no invocation for ``FORGE_SILENT_AFTER_HOURS``).

Run by :mod:`django_atlassian_connect.maintenance` and its Celery task.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from ..conf import connect_settings
from ..models import ForgeInstallation
from .installations import installations_running_out

__all__ = [
    "FORGE_TRIGGER_INTERVAL",
    "report_forge_tokens",
    "report_silent_installations",
    "silent_installations",
]

logger = logging.getLogger("django_atlassian_connect")


#: Forge's hourly scheduledTrigger brings a fresh app system token: a stored one that
#: runs out before the next trigger (plus FORGE_TOKEN_MARGIN) leaves jobs without one.
FORGE_TRIGGER_INTERVAL = 3600


def report_forge_tokens(*, within: float | None = None) -> dict[str, int]:
    """Warn about Forge installations whose stored app system token runs out before the
    next hourly trigger (``within``, default 3600 s + ``FORGE_TOKEN_MARGIN``).

    One WARNING line naming the installation ids (never a token); returns
    ``{"running_out": n, "expired": k}`` (``expired``: no token, or already out).
    Tokens cannot be renewed from here (there is no refresh endpoint): the fix
    is the manifest's hourly ``scheduledTrigger`` reaching the app.
    """
    if within is None:
        within = FORGE_TRIGGER_INTERVAL + float(connect_settings.FORGE_TOKEN_MARGIN)
    now = timezone.now()
    running_out = list(installations_running_out(within=within))
    expired = [
        i
        for i in running_out
        if i.system_token_expires_at is None or i.system_token_expires_at <= now
    ]
    if running_out:
        logger.warning(
            "%d Forge installation(s) have no app system token lasting until the next hourly "
            "trigger (%d already without one): %s. Check that the manifest's hourly "
            "scheduledTrigger reaches an endpoint with auth.appSystemToken.enabled.",
            len(running_out),
            len(expired),
            ", ".join(sorted(str(i.installation_id) for i in running_out)),
            extra={"connect_code": "forge_token_expired"},
        )
    return {"running_out": len(running_out), "expired": len(expired)}


def silent_installations(hours: float | None = None) -> QuerySet[ForgeInstallation]:
    """Current installations with no verified invocation for more than ``hours``.

    ``hours`` defaults to ``FORGE_SILENT_AFTER_HOURS``. Current: neither
    superseded nor uninstalled. Never seen (a row a signed Connect install
    created, no FIT yet) counts as silent once it was linked longer ago than
    that. Forge's hourly scheduledTrigger reaches every live installation, so
    a silent one lost its trigger, or was uninstalled without preUninstall
    reaching us (Forge sends no uninstall event). Longest silent first.
    """
    if hours is None:
        hours = float(connect_settings.FORGE_SILENT_AFTER_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    never_seen = Q(last_seen_at__isnull=True) & (
        Q(linked_at__isnull=True) | Q(linked_at__lt=cutoff)
    )
    return (
        ForgeInstallation._default_manager.filter(
            superseded_at__isnull=True, uninstalled_at__isnull=True
        )
        .filter(Q(last_seen_at__lt=cutoff) | never_seen)
        .order_by(F("last_seen_at").asc(nulls_first=True), "pk")
    )


def report_silent_installations(hours: float | None = None) -> dict[str, int]:
    """Warn about :func:`silent_installations` (one WARNING line naming them, no token).

    Returns ``{"silent": n, "never_seen": k}``. The hours default to
    ``FORGE_SILENT_AFTER_HOURS``.
    """
    if hours is None:
        hours = float(connect_settings.FORGE_SILENT_AFTER_HOURS)
    silent = list(silent_installations(hours))
    never_seen = sum(1 for i in silent if i.last_seen_at is None)
    if silent:
        logger.warning(
            "%d Forge installation(s) silent for more than %g h (%d never invoked the app): "
            "%s. Check that the manifest's hourly scheduledTrigger reaches the app; a site "
            "that uninstalled without preUninstall reaching us is silent too.",
            len(silent),
            hours,
            never_seen,
            ", ".join(str(i.installation_id) for i in silent),
            extra={"connect_code": "forge_installation_silent"},
        )
    return {"silent": len(silent), "never_seen": never_seen}
