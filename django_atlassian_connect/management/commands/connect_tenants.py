from typing import Any

from django.core.management.base import BaseCommand

from django_atlassian_connect.models import get_tenant_model


class Command(BaseCommand):
    help = "List installations: clientKey, site, state and current secret fingerprint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="include uninstalled tenants")

    def handle(self, *args: Any, all: bool = False, **options: Any) -> None:
        tenants = get_tenant_model()._default_manager.order_by("base_url")
        if not all:
            tenants = tenants.filter(is_installed=True)
        count = 0
        for tenant in tenants:
            count += 1
            current = tenant.current_secret
            state = "installed" if tenant.is_installed else "uninstalled"
            if tenant.is_installed and not tenant.is_enabled:
                state = "disabled"
            self.stdout.write(
                f"{tenant.client_key}\t{tenant.base_url}\t{tenant.product_type or '-'}\t{state}\t"
                f"secret {current.fingerprint if current else '-'}"
            )
        if not count:
            self.stdout.write(
                "No tenants." if all else "No installed tenants (--all lists uninstalled ones)."
            )
