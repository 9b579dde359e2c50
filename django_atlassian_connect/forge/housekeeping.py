"""Forge's housekeeping: installations whose app system token runs out.

Run by :mod:`django_atlassian_connect.maintenance` and its Celery task.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from ..conf import connect_settings
from .installations import installations_running_out

__all__ = ["FORGE_TRIGGER_INTERVAL", "report_forge_tokens"]

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
