"""Forge's ``preUninstall``: the installation goes away; a later ``installed`` brings it back.

``POST /forge/pre-uninstall`` (:class:`~django_atlassian_connect.forge.views.ForgePreUninstallView`)
verifies the FIT, records the invocation, then :func:`mark_uninstalled`
stamps ``ForgeInstallation.uninstalled_at`` and sends ``forge_pre_uninstall``
after commit, once per installation however often Forge calls. From then on
the installation is left out of housekeeping (:mod:`.housekeeping`), of the
product events' receivers and of ``ForgeClient``.

preUninstall is best effort: Forge calls once (55 s timeout), ignores our
answer and uninstalls anyway. The body (``{"context": {"cloudId",
"moduleKey"}, "contextToken"}`` for functions; unverified for remotes) is
not needed: the FIT names the installation. A body that contradicts the FIT
is refused (400).

A FIT for an uninstalled installation is still verified and served: Forge
may deliver events that were in flight. A reinstall brings a *new*
installation id (a new row); only an ``avi:forge:installed:app`` for the same
id means Forge installed it again, and :func:`reinstate` clears the stamp.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.db import DatabaseError, transaction

from .. import signals
from ..exceptions import ForgeAuthError
from ..models import ForgeInstallation
from .context import ForgeContext
from .events import EventBodyError

__all__ = ["check_body", "mark_uninstalled", "reinstate"]

logger = logging.getLogger("django_atlassian_connect")


def check_body(body: bytes, context: ForgeContext) -> None:
    """:class:`EventBodyError` for a body Forge would not send: not JSON, not an object,
    or a ``context.cloudId`` other than the FIT's. An empty body is fine."""
    if not body.strip():
        return
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EventBodyError(
            f"The preUninstall body is not JSON ({type(exc).__name__}).",
            installationId=context.installation_id,
        ) from exc
    if not isinstance(data, dict):
        raise EventBodyError(
            f"The preUninstall body is JSON {type(data).__name__}, not an object.",
            installationId=context.installation_id,
        )
    payload = data.get("payload")
    data = payload if isinstance(payload, dict) else data
    given = data.get("context")
    cloud_id = given.get("cloudId") if isinstance(given, dict) else None
    if cloud_id is not None and context.cloud_id and cloud_id != context.cloud_id:
        raise EventBodyError(
            f"The preUninstall body names site {str(cloud_id)[:64]!r}, but the Forge "
            f"Invocation Token was issued for site {context.cloud_id}. Nothing was stored.",
            installationId=context.installation_id,
        )


def mark_uninstalled(
    context: ForgeContext, *, now: datetime | None = None
) -> tuple[ForgeInstallation, bool]:
    """Stamp the FIT's installation ``uninstalled_at``: ``(row, stamped now)``.

    The row must exist (record the invocation first). The first call stamps
    it and sends ``forge_pre_uninstall`` after commit; later calls change
    nothing and send nothing (one conditional UPDATE decides, across processes).
    A database failure is ``database_unavailable`` (503), nothing changed.
    """
    when = now or datetime.now(tz=UTC)
    manager = ForgeInstallation._default_manager
    try:
        with transaction.atomic():
            stamped = bool(
                manager.filter(
                    installation_id=context.installation_id, uninstalled_at__isnull=True
                ).update(uninstalled_at=when)
            )
            row = manager.get(installation_id=context.installation_id)
    except DatabaseError as exc:
        raise ForgeAuthError(
            "database_unavailable",
            f"The database failed while marking the installation uninstalled "
            f"({type(exc).__name__}); nothing was changed.",
            installation_id=context.installation_id,
        ) from exc
    if stamped:
        transaction.on_commit(
            lambda: signals.forge_pre_uninstall.send(
                sender=ForgeInstallation, installation=row, context=context
            )
        )
    return row, stamped


def reinstate(installation: ForgeInstallation, *, event_type: str) -> bool:
    """Clear ``uninstalled_at`` after an ``installed`` event for this very installation id.

    ``True`` when it was set (logged); updates ``installation`` in place.
    """
    if installation.uninstalled_at is None:
        return False
    cleared = ForgeInstallation._default_manager.filter(
        pk=installation.pk, uninstalled_at__isnull=False
    ).update(uninstalled_at=None)
    if cleared:
        logger.warning(
            "forge installation %s uninstalled at %s is installed again (%s): uninstalled_at "
            "cleared",
            installation.installation_id,
            f"{installation.uninstalled_at:%Y-%m-%dT%H:%M:%SZ}",
            event_type,
        )
    installation.uninstalled_at = None
    return bool(cleared)
