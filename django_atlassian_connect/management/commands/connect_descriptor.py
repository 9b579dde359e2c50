"""``manage.py connect_descriptor``: print the descriptor this app serves."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_atlassian_connect.checks import include_hint, root_urlconf_name, unrouted_connect_urls
from django_atlassian_connect.connect.descriptor import build_descriptor


class Command(BaseCommand):
    help = "Print the app descriptor (atlassian-connect.json) built from settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--compact", action="store_true", help="one line, no indentation")

    def handle(self, *args: Any, compact: bool = False, **options: Any) -> None:
        # The descriptor names the lifecycle URLs by reversing them: without the
        # include there is nothing to name, and the fix is one line in the URLconf.
        missing = unrouted_connect_urls()
        if missing:
            raise CommandError(
                f"The ROOT_URLCONF {root_urlconf_name()!r} does not include "
                f"django_atlassian_connect.urls ({', '.join(missing)} not routed). "
                + include_hint()
            )
        try:
            descriptor = build_descriptor()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(descriptor, indent=None if compact else 2))
