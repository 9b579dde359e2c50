from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Prefetch

from django_atlassian_connect.checks import CONNECT_END_OF_SUPPORT
from django_atlassian_connect.http import ratelimit
from django_atlassian_connect.management.link_report import write_link_report
from django_atlassian_connect.management.silent_report import write_silent_report
from django_atlassian_connect.models import ForgeInstallation, get_tenant_model

NOT_READY = f"not ready for Connect end of support ({CONNECT_END_OF_SUPPORT})"


def _token_state(installation: ForgeInstallation) -> str:
    expires = installation.system_token_expires_at
    if installation.system_token is None or expires is None:
        return "no system token"
    return (
        f"system token {installation.system_token_fingerprint} until {expires:%Y-%m-%dT%H:%M:%SZ}"
    )


def _rate_limit(client_key: str) -> str:
    return ratelimit.describe(ratelimit.get_state(client_key), ratelimit.get_backoff(client_key))


class Command(BaseCommand):
    help = (
        "List installations: clientKey, site, state and current secret fingerprint; "
        "--forge adds each tenant's Forge installations, --rate-limits the quota each "
        "site last reported."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="include uninstalled tenants")
        parser.add_argument(
            "--forge",
            action="store_true",
            help="add each tenant's current Forge installation(s); an installed tenant "
            f"without one is marked '{NOT_READY}'",
        )
        parser.add_argument(
            "--link",
            action="store_true",
            help="link every unlinked Forge installation that can be (signed install, app "
            "property, unique cloudId) and print one line per installation",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="with --link: say what it would do, change nothing",
        )
        parser.add_argument(
            "--silent",
            nargs="?",
            const="",
            default=None,
            metavar="HOURS",
            help="with --forge: list the current Forge installations with no invocation for "
            "HOURS (default FORGE_SILENT_AFTER_HOURS) instead of the tenants",
        )
        parser.add_argument(
            "--rate-limits",
            action="store_true",
            help="end each line with the rate limit the site last reported (remaining/limit, "
            "reset, near limit, reason) and any backoff after a 429, or 'rate limit -'",
        )

    def handle(
        self,
        *args: Any,
        all: bool = False,
        forge: bool = False,
        rate_limits: bool = False,
        **options: Any,
    ) -> None:
        if options.get("link") or options.get("dry_run"):
            listing = {"--all": all, "--forge": forge, "--rate-limits": rate_limits}
            return write_link_report(self.stdout, options, listing)
        if options.get("silent") is not None:
            return write_silent_report(self.stdout, options["silent"])
        tenants = get_tenant_model()._default_manager.order_by("base_url")
        if not all:
            tenants = tenants.filter(is_installed=True)
        if forge:
            current = ForgeInstallation._default_manager.filter(
                superseded_at__isnull=True
            ).order_by("installation_id")
            tenants = tenants.prefetch_related(
                Prefetch("forge_installations", queryset=current, to_attr="current_forge")
            )
        count = not_ready = 0
        for tenant in tenants:
            count += 1
            current_secret = tenant.current_secret
            state = "installed" if tenant.is_installed else "uninstalled"
            if tenant.is_installed and not tenant.is_enabled:
                state = "disabled"
            line = (
                f"{tenant.client_key}\t{tenant.base_url}\t{tenant.product_type or '-'}\t{state}\t"
                f"secret {current_secret.fingerprint if current_secret else '-'}"
            )
            # The last column, so the columns before it stay where scripts expect them.
            limits = f"\trate limit {_rate_limit(tenant.client_key)}" if rate_limits else ""
            if not forge:
                self.stdout.write(line + limits)
                continue
            installations = getattr(tenant, "current_forge", [])
            for installation in installations:
                self.stdout.write(
                    f"{line}\tforge {installation.installation_id}\t"
                    f"{installation.environment_type or '-'}\t"
                    f"linked by {installation.link_method or '-'}\t{_token_state(installation)}"
                    + limits
                )
            if not installations:
                if tenant.is_installed:
                    not_ready += 1
                self.stdout.write(
                    f"{line}\tforge -" + (f"\t{NOT_READY}" if tenant.is_installed else "") + limits
                )
        if not count:
            self.stdout.write(
                "No tenants." if all else "No installed tenants (--all lists uninstalled ones)."
            )
        elif forge:
            self.stdout.write(
                f"{not_ready} installed tenant(s) with no Forge installation linked."
                if not_ready
                else "Every installed tenant has a Forge installation linked."
            )
