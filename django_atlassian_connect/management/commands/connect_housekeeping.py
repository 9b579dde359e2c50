import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_atlassian_connect import maintenance

JOBS: dict[str, Callable[[], Any]] = {
    "refresh_access_tokens": maintenance.refresh_access_tokens,
    "purge_retired_secrets": maintenance.purge_retired_secrets,
    "purge_seen_tokens": maintenance.purge_seen_tokens,
    "verify_installations": maintenance.verify_installations,
    "report_forge_tokens": maintenance.report_forge_tokens,
    "report_silent_forge_installations": maintenance.report_silent_forge_installations,
    "refresh_oauth_grants": maintenance.refresh_oauth_grants,
}


class Command(BaseCommand):
    help = (
        "Run housekeeping without Celery: refresh impersonation tokens, purge retired "
        "secret material, forget expired lifecycle tokens, verify installations, warn about Forge "
        "installations whose system token runs out or that went silent, refresh OAuth 2.0 (3LO) grants (the same "
        "functions the Celery tasks run)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "jobs", nargs="*", metavar="JOB", help=f"one of {', '.join(JOBS)} (default: all)"
        )

    def handle(self, *args: Any, jobs: list[str], **options: Any) -> None:
        unknown = sorted(set(jobs) - set(JOBS))
        if unknown:
            raise CommandError(
                f"Unknown job(s) {', '.join(unknown)}; choose from {', '.join(JOBS)}."
            )
        for name in jobs or list(JOBS):
            result = JOBS[name]()
            self.stdout.write(f"{name}: {json.dumps(result)}")
