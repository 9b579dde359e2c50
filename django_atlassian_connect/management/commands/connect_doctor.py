"""``manage.py connect_doctor``: name the cause of a 401/403.

The analysis lives in :mod:`django_atlassian_connect.diagnostics`; this module
parses arguments and renders the report. Exit codes: 0 healthy, 1 problem
found, 2 usage error. From code (``call_command``) a problem found or a usage
error raises :class:`CommandError` (``returncode`` 1 or 2) after the report is
written; from the shell the status is the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_atlassian_connect import diagnostics
from django_atlassian_connect.diagnostics.credentials import analyse_credentials
from django_atlassian_connect.diagnostics.forge import analyse_forge_token
from django_atlassian_connect.exceptions import SecretDecryptionError
from django_atlassian_connect.models import OAuthGrant

USAGE_ERROR = 2
PROBLEM_FOUND = 1

_MARKS = {"error": "ERROR", "warning": "WARN ", "info": "info ", "ok": "ok   "}


# Django's options, which its parser knows before the sub-command only; repeated on
# each sub-command (default SUPPRESS: given before, they are not overwritten) so that
# "connect_doctor token X --settings=foo" works too.
_DJANGO_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-v", "--verbosity"), {"type": int, "choices": [0, 1, 2, 3]}),
    (("--settings",), {}),
    (("--pythonpath",), {}),
    (("--traceback",), {"action": "store_true"}),
    (("--no-color",), {"action": "store_true"}),
    (("--force-color",), {"action": "store_true"}),
    (("--skip-checks",), {"action": "store_true"}),
)


class ProblemFound(CommandError):
    """The report names a problem: exit status 1, or this error from ``call_command``."""


class DoctorParser(CommandParser):
    """Usage errors exit (or raise) with status 2, also when called from code."""

    def error(self, message: str) -> Any:
        if self.called_from_command_line:
            super().error(message)  # argparse: usage on stderr, exit 2
        raise CommandError(f"Error: {message}", returncode=USAGE_ERROR)


class Command(BaseCommand):
    help = (
        "Diagnose Connect authentication: a token, a tenant, a call, the descriptor, a "
        "Forge Invocation Token, or credentials for Atlassian Cloud outside Connect. "
        "Exit code 0: healthy; 1: problem found; 2: usage error."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = DoctorParser
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        common = DoctorParser(add_help=False)
        common.add_argument("--json", action="store_true", help="machine-readable output")
        for flags, kwargs in _DJANGO_OPTIONS:
            common.add_argument(*flags, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
        sub = parser.add_subparsers(
            dest="doctor_command", metavar="COMMAND", parser_class=DoctorParser, required=True
        )

        token = sub.add_parser(
            "token",
            parents=[common],
            help="analyse a JWT (inbound by default; --outbound for one made to call the product)",
        )
        token.add_argument(
            "token",
            help="the JWT, or an Authorization header value ('JWT ...', 'Bearer ...'); "
            "'-' reads it from stdin",
        )
        token.add_argument("--method", help="HTTP method of the request (default GET)")
        token.add_argument("--url", help="full or relative URL of the request, to check the qsh")
        token.add_argument(
            "--outbound",
            action="store_true",
            help="a token someone built for calling the product's REST API",
        )
        token.add_argument(
            "--client-key",
            help="the tenant (clientKey or baseUrl) an outbound token is for",
        )
        token.add_argument(
            "--endpoint",
            choices=["auto", "request", "context"],
            default="auto",
            help="inbound: the kind of view the token was sent to (default: from the URLconf)",
        )

        tenant = sub.add_parser(
            "tenant",
            parents=[common],
            help="install and secret history of an installation; --check calls the live site",
        )
        tenant.add_argument("tenant", help="clientKey, baseUrl or displayUrl")
        tenant.add_argument(
            "--check",
            action="store_true",
            help="one signed call as the app and one impersonation grant against the site",
        )
        tenant.add_argument("--as-user", help="accountId for the impersonation grant")

        request = sub.add_parser(
            "request", parents=[common], help="perform one call with ConnectClient and explain it"
        )
        request.add_argument("method", help="GET, POST, ...")
        request.add_argument("url", help="path relative to the tenant's baseUrl, or a full URL")
        request.add_argument("--tenant", required=True, help="clientKey or baseUrl")
        request.add_argument("--as-user", help="act as this accountId (impersonation)")
        request.add_argument(
            "--scope", action="append", default=None, help="scope to ask for (repeatable)"
        )
        request.add_argument("--data", help="JSON body")
        request.add_argument(
            "--show-token",
            action="store_true",
            help="print the whole Authorization header (it is a credential)",
        )

        forge_token = sub.add_parser(
            "forge-token",
            parents=[common],
            help="analyse a Forge Invocation Token (why a Forge view refuses it)",
        )
        forge_token.add_argument(
            "token",
            help="the FIT, or the Authorization header value ('Bearer ...'); '-' reads it "
            "from stdin",
        )
        forge_token.add_argument(
            "--headers",
            action="append",
            metavar="NAMES",
            help="the header NAMES the call carried, comma-separated (repeatable), e.g. "
            "'authorization,x-b3-traceid,x-forge-oauth-system': explains a missing "
            "x-forge-oauth-system / x-forge-oauth-user. Never give the values.",
        )

        credentials = sub.add_parser(
            "credentials",
            parents=[common],
            help="why a call to Atlassian Cloud outside Connect fails: an SSO token, an API "
            "token, a 3LO or service-account token, a token answer, a stored 3LO grant",
        )
        credentials.add_argument(
            "credential",
            nargs="?",
            help="the token, or the Authorization header value ('Basic ...', 'Bearer ...'); "
            "'-' reads it from stdin. Never printed.",
        )
        credentials.add_argument("--url", help="the URL the credential was sent to")
        credentials.add_argument("--status", type=int, help="the HTTP status of the answer")
        credentials.add_argument(
            "--body",
            help="the body of the answer (JSON or text); for the token endpoint "
            "(--url .../oauth/token) its token answer; '-' reads it from stdin",
        )
        credentials.add_argument("--grant", help="the id of a stored OAuth 2.0 (3LO) grant")
        credentials.add_argument(
            "--scoped",
            action="store_true",
            help="the API token was created with scopes (a scoped API token)",
        )
        credentials.add_argument("--created", help="the day the API token was created (YYYY-MM-DD)")

        descriptor = sub.add_parser("descriptor", parents=[common], help="lint the app descriptor")
        descriptor.add_argument(
            "--file", help="lint this descriptor JSON file instead of the one this app serves"
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ProblemFound as exc:
            if not getattr(self, "_called_from_command_line", False):
                raise
            # The report was written: exit 1 without Django's "CommandError: ..." line.
            sys.exit(exc.returncode)

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["doctor_command"]
        try:
            report = getattr(self, "_" + command.replace("-", "_"))(options)
        except SecretDecryptionError as exc:
            # A secret the analysis had to read cannot be decrypted: that is the finding.
            report = diagnostics.Report(command)
            report.add(exc.code, diagnostics.ERROR, exc.detail, hint=exc.hint)
        report.rewrite(diagnostics.shorten_jwt_params)  # a URL from the browser holds its token
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2, sort_keys=False))
        else:
            self._render(report)
        primary = report.primary
        if primary is not None:
            cause = f" ({primary.cause})" if primary.cause else ""
            raise ProblemFound(
                f"connect_doctor {command}: {primary.code}{cause}; "
                f"{len(report.problems)} problem(s) in all.",
                returncode=PROBLEM_FOUND,
            )

    # -- sub-commands --------------------------------------------------------------

    def _token(self, options: dict[str, Any]) -> diagnostics.Report:
        token = options["token"]
        if token == "-":
            token = sys.stdin.read().strip()
        if not token:
            raise CommandError("Error: the token is empty.", returncode=USAGE_ERROR)
        if options["client_key"] and not options["outbound"]:
            raise CommandError(
                "Error: --client-key goes with --outbound (an inbound token names its tenant "
                "in iss).",
                returncode=USAGE_ERROR,
            )
        if options["method"] and not options["url"]:
            raise CommandError("Error: --method needs --url.", returncode=USAGE_ERROR)
        return diagnostics.analyse_token(
            token,
            method=options["method"],
            url=options["url"],
            outbound=options["outbound"],
            client_key=options["client_key"],
            endpoint=options["endpoint"],
        )

    def _tenant(self, options: dict[str, Any]) -> diagnostics.Report:
        if options["as_user"] and not options["check"]:
            raise CommandError("Error: --as-user goes with --check.", returncode=USAGE_ERROR)
        return diagnostics.analyse_tenant(
            options["tenant"], check=options["check"], account_id=options["as_user"]
        )

    def _request(self, options: dict[str, Any]) -> diagnostics.Report:
        body = None
        if options["data"] is not None:
            try:
                body = json.loads(options["data"])
            except ValueError as exc:
                raise CommandError(
                    f"Error: --data is not JSON: {exc}", returncode=USAGE_ERROR
                ) from exc
        if options["scope"] and not options["as_user"]:
            raise CommandError("Error: --scope goes with --as-user.", returncode=USAGE_ERROR)
        return diagnostics.diagnose_request(
            options["method"],
            options["url"],
            tenant=options["tenant"],
            account_id=options["as_user"],
            scopes=options["scope"],
            body=body,
            show_token=options["show_token"],
        )

    def _forge_token(self, options: dict[str, Any]) -> diagnostics.Report:
        token = options["token"]
        if token == "-":
            token = sys.stdin.read().strip()
        if not token:
            raise CommandError("Error: the token is empty.", returncode=USAGE_ERROR)
        return analyse_forge_token(token, headers=options["headers"])

    def _credentials(self, options: dict[str, Any]) -> diagnostics.Report:
        credential, body = options["credential"], options["body"]
        if credential == "-" and body == "-":
            raise CommandError(
                "Error: only one of the credential and --body can be read from stdin.",
                returncode=USAGE_ERROR,
            )
        if credential == "-":
            credential = sys.stdin.read().strip()
        if body == "-":
            body = sys.stdin.read()
        if not credential and body is None and not options["grant"]:
            raise CommandError(
                "Error: give a credential, --body (a token endpoint's answer) or --grant.",
                returncode=USAGE_ERROR,
            )
        created = None
        if options["created"]:
            try:
                created = date.fromisoformat(options["created"])
            except ValueError as exc:
                raise CommandError(
                    "Error: --created is a day, YYYY-MM-DD.", returncode=USAGE_ERROR
                ) from exc
        grant = None
        if options["grant"]:
            try:
                grant = OAuthGrant.objects.filter(pk=options["grant"]).first()
            except (ValueError, ValidationError):
                grant = None
            if grant is None:
                raise CommandError(
                    f"Error: no OAuth 2.0 grant with id {options['grant']!r}.",
                    returncode=USAGE_ERROR,
                )
        return analyse_credentials(
            credential or None,
            url=options["url"],
            status=options["status"],
            body=body,
            grant=grant,
            scoped=options["scoped"],
            created=created,
        )

    def _descriptor(self, options: dict[str, Any]) -> diagnostics.Report:
        path = options["file"]
        if not path:
            return diagnostics.lint_descriptor()
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(
                f"Error: cannot read {path} as JSON: {exc}", returncode=USAGE_ERROR
            ) from exc
        return diagnostics.lint_descriptor(data, source=path)

    # -- human output ------------------------------------------------------------------

    def _render(self, report: diagnostics.Report) -> None:
        write = self.stdout.write
        write(f"connect_doctor {report.command}")
        for name, value in report.facts.items():
            self._fact(name, value)
        write("")
        for finding in report.findings:
            mark = _MARKS[finding.severity]
            line = f"{mark} {finding.code}"
            if finding.cause:
                line += f" [{finding.cause}]"
            style = {
                "error": self.style.ERROR,
                "warning": self.style.WARNING,
                "ok": self.style.SUCCESS,
            }.get(finding.severity, str)
            write(style(line))
            write(f"      {finding.message}")
            if finding.hint and finding.severity in ("error", "warning"):
                write(f"      fix: {finding.hint}")
            for key, value in finding.details.items():
                if value in (None, "", [], {}):
                    continue
                write(f"      {key.replace('_', ' ')}: {self._value(value)}")
        write("")
        primary = report.primary
        if primary is None:
            write(self.style.SUCCESS("Healthy: no problem found."))
        else:
            cause = f" ({primary.cause})" if primary.cause else ""
            write(
                self.style.ERROR(
                    f"Problem found: {primary.code}{cause}. "
                    f"{len(report.problems)} problem(s) in all."
                )
            )

    def _fact(self, name: str, value: Any) -> None:
        label = name.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            self.stdout.write(f"  {label}:")
            for item in value:
                self.stdout.write(
                    "    - "
                    + ", ".join(f"{k}={self._value(v)}" for k, v in item.items() if v is not None)
                )
        elif isinstance(value, dict) and len(self._value(value)) > 90:
            self.stdout.write(f"  {label}:")
            for key, item in value.items():
                self.stdout.write(f"    {key}: {self._value(item)}")
        else:
            self.stdout.write(f"  {label}: {self._value(value)}")

    @staticmethod
    def _value(value: Any) -> str:
        if isinstance(value, (dict, list)):
            return json.dumps(value, default=str, ensure_ascii=False)
        return str(value)
