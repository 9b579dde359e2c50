"""``connect_tenants --forge --silent [HOURS]``: the Forge installations that went silent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from ..conf import connect_settings
from ..forge.housekeeping import silent_installations


def write_silent_report(out: Any, hours: float | str | None) -> None:
    """One line per current installation without an invocation for ``hours``, then a count.

    ``hours`` ``None`` or ``""`` (``--silent`` without a value): ``FORGE_SILENT_AFTER_HOURS``.
    Columns: installation id, product, cloudId, site, linked clientKey, last invocation
    (or ``never seen``), hours since.
    """
    if hours is None or hours == "":
        hours = connect_settings.FORGE_SILENT_AFTER_HOURS
    try:
        hours = float(hours)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        hours = -1.0
    if not hours >= 0:  # also refuses nan
        raise CommandError("--silent takes a number of hours >= 0 (e.g. --silent 48).")
    now = timezone.now()
    installations = list(silent_installations(hours).select_related("tenant"))
    for installation in installations:
        seen = installation.last_seen_at
        since = f"{(now - seen).total_seconds() / 3600:.1f} h ago" if seen else "-"
        out.write(
            "\t".join(
                [
                    installation.installation_id,
                    installation.product or "-",
                    installation.cloud_id or "-",
                    installation.site_url or "-",
                    installation.tenant.client_key if installation.tenant else "-",
                    f"last invocation {seen:%Y-%m-%dT%H:%M:%SZ}" if seen else "never seen",
                    since,
                ]
            )
        )
    if installations:
        out.write(
            f"{len(installations)} Forge installation(s) silent for more than {hours:g} h: "
            "check that the manifest's hourly scheduledTrigger reaches the app."
        )
    else:
        out.write(f"No Forge installation silent for more than {hours:g} h.")
