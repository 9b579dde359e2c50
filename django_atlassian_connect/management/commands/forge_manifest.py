"""``manage.py forge_manifest``: the Forge manifest.yml of this Connect app; --check; --status.

::

    python manage.py forge_manifest [--output PATH] [--product jira|confluence]
                                    [--connect-key-variable NAME]
    python manage.py forge_manifest --check manifest.yml [--product ...]
    python manage.py forge_manifest --status manifest.yml

Writing: stdout, or ``--output`` atomically (the old file stays whole on any
error). Notes (an unmappable webhook, the first of several app ids) go to stderr.
``--check``: one ``<code>: <what> — <fix>`` line per mismatch, non-zero when any.
``--status``: what is left before "fully adopted"; exit 0 for a readable manifest.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from django_atlassian_connect.adoption import (
    AdoptionError,
    adoption_status,
    build_manifest,
    check_manifest,
    load,
    render,
    write_atomically,
)


class Command(BaseCommand):
    help = (
        "Write the Forge manifest.yml of this Connect app (Connect-on-Forge) from the "
        "descriptor, the settings and the URLconf; --check PATH compares a manifest with "
        "them, --status PATH says what is left before the app is fully adopted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", metavar="PATH", help="write the manifest here (atomically), not to stdout"
        )
        parser.add_argument(
            "--product",
            choices=["jira", "confluence"],
            help='the product of the Connect modules (default ATLASSIAN_CONNECT["FORGE_PRODUCT"])',
        )
        parser.add_argument(
            "--connect-key-variable",
            metavar="NAME",
            help="write app.connect.key as ${NAME} (a manifest variable, APP_KEY its default)",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check", metavar="PATH", help="compare the manifest at PATH with the settings"
        )
        mode.add_argument(
            "--status", metavar="PATH", help="what stands between the app and full adoption"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["check"] or options["status"]) and (
            options["output"] or options["connect_key_variable"]
        ):
            raise CommandError(
                "--output and --connect-key-variable write a manifest: use them without "
                "--check or --status."
            )
        try:
            if options["check"]:
                self._check(options["check"], options["product"])
            elif options["status"]:
                self._status(options["status"])
            else:
                self._write(options["output"], options["product"], options["connect_key_variable"])
        except AdoptionError as exc:
            raise CommandError(exc.line()) from exc
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

    def _write(self, output: str | None, product: str | None, variable: str | None) -> None:
        manifest = build_manifest(product, connect_key_variable=variable)
        text = render(manifest.data)
        for note in manifest.notes:
            self.stderr.write(note)
        if output:
            write_atomically(output, text)
            self.stderr.write(f"Wrote {output} ({manifest.product}).")
        else:
            self.stdout.write(text, ending="")

    def _check(self, path: str, product: str | None) -> None:
        findings = check_manifest(load(path), product)
        for finding in findings:
            self.stdout.write(finding.line())
        if findings:
            raise CommandError(
                f"{path}: {len(findings)} mismatch(es) with the settings and the URLconf.",
                returncode=1,
            )
        self.stdout.write(f"{path} matches the settings and the URLconf.")

    def _status(self, path: str) -> None:
        manifest = load(path)
        try:
            status = adoption_status(manifest)
        except DatabaseError as exc:
            raise CommandError(
                f"The tenants and Forge installations cannot be read ({exc}): run "
                "manage.py migrate, and check DATABASES."
            ) from exc
        for line in status.lines():
            self.stdout.write(line)
