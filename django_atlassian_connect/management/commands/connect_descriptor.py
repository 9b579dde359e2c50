import json
from typing import Any

from django.core.management.base import BaseCommand

from django_atlassian_connect.descriptor import build_descriptor


class Command(BaseCommand):
    help = "Print the app descriptor (atlassian-connect.json) built from settings."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--compact", action="store_true", help="one line, no indentation")

    def handle(self, *args: Any, compact: bool = False, **options: Any) -> None:
        self.stdout.write(json.dumps(build_descriptor(), indent=None if compact else 2))
