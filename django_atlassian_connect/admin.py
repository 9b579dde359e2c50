"""Admin: tenants with their secret history and lifecycle log, read-only.

Secrets are never displayed: only fingerprints and timestamps.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import LifecycleEvent, SharedSecret, Tenant


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SharedSecretInline(ReadOnlyInline):
    model = SharedSecret
    fields = ("fingerprint", "became_current_at", "retired_at", "purged_at")
    readonly_fields = fields


class LifecycleEventInline(ReadOnlyInline):
    model = LifecycleEvent
    fields = ("received_at", "event_type", "accepted", "status_code", "error_code", "detail")
    readonly_fields = fields
    max_num = 0


class TenantAdmin(admin.ModelAdmin):
    """Admin for the tenant model; register it for your own model when swapped."""

    list_display = (
        "base_url",
        "client_key",
        "product_type",
        "is_installed",
        "is_enabled",
        "installed_at",
    )
    list_filter = ("product_type", "is_installed", "is_enabled")
    search_fields = ("client_key", "base_url", "display_url", "installation_id")
    readonly_fields = (
        "client_key",
        "app_key",
        "base_url",
        "display_url",
        "display_url_servicedesk_help_center",
        "product_type",
        "description",
        "service_entitlement_number",
        "entitlement_id",
        "entitlement_number",
        "oauth_client_id",
        "installation_id",
        "server_version",
        "plugins_version",
        "is_installed",
        "is_enabled",
        "installed_at",
        "uninstalled_at",
        "enabled_at",
        "disabled_at",
        "created_at",
        "updated_at",
    )
    inlines = [SharedSecretInline, LifecycleEventInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tenants come from verified installs only.
        return False


if not Tenant._meta.swapped:
    admin.site.register(Tenant, TenantAdmin)


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "event_type",
        "client_key",
        "accepted",
        "status_code",
        "error_code",
    )
    list_filter = ("event_type", "accepted", "error_code")
    search_fields = ("client_key", "base_url", "detail")
    date_hierarchy = "received_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
