"""``connect_tenants --link [--dry-run]``: link the unlinked Forge installations, one line each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import CommandError

from ..forge.bulk_linking import link_unlinked


def write_link_report(out: Any, options: Mapping[str, Any], listing: Mapping[str, bool]) -> None:
    """Run the bulk link (or its dry run) and write one line per installation, then a count.

    ``options`` are the command's (``link``, ``dry_run``); ``listing`` the listing
    flags given, which ``--link`` does not combine with (it lists installations, not tenants).
    """
    dry_run = bool(options.get("dry_run"))
    if not options.get("link"):
        raise CommandError("--dry-run goes with --link: connect_tenants --link --dry-run.")
    given = [flag for flag, on in listing.items() if on]
    if given:
        raise CommandError(
            f"--link does not combine with {', '.join(given)}: run "
            "'connect_tenants --link' and the listing separately."
        )
    outcomes = link_unlinked(dry_run=dry_run)
    for outcome in outcomes:
        out.write(outcome.line())
    if not outcomes:
        out.write("No unlinked Forge installations.")
        return
    linked = sum(1 for o in outcomes if o.linked)
    verb = "would be linked" if dry_run else "linked"
    summary = f"{linked} of {len(outcomes)} unlinked Forge installation(s) {verb}"
    out.write(summary + (" (dry run: nothing changed)." if dry_run else "."))
