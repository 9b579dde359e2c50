"""Forge installations, read-only, with their realm (data residency) migrations."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import ForgeInstallation, ForgeRealmMigration
from .common import ReadOnlyInline, SystemTokenStatus


class ForgeRealmMigrationInline(ReadOnlyInline):
    model = ForgeRealmMigration
    fields = ("migration_id", "location", "state", "scheduled_at", "started_at")
    readonly_fields = fields


@admin.register(ForgeInstallation)
class ForgeInstallationAdmin(SystemTokenStatus, admin.ModelAdmin):
    """Read-only: rows come from verified invocations and signed installs only.

    The app system token shows as its fingerprint and expiry.
    """

    list_display = (
        "installation_id",
        "product",
        "cloud_id",
        "environment_type",
        "tenant",
        "link_method",
        "last_seen_at",
        "system_token_status",
        "superseded_at",
        "uninstalled_at",
    )
    list_filter = ("product", "environment_type", "link_method", "uninstalled_at")
    list_select_related = ("tenant",)
    search_fields = ("installation_id", "cloud_id", "site_url", "tenant__client_key")
    ordering = ("-last_seen_at", "-pk")
    fields = (
        "installation_id",
        "app_id",
        "environment_type",
        "environment_id",
        "product",
        "cloud_id",
        "api_base_url",
        "site_url",
        "tenant",
        "link_method",
        "linked_at",
        "first_seen_at",
        "last_seen_at",
        "superseded_at",
        "uninstalled_at",
        "system_token_status",
        "system_token_received_at",
    )
    readonly_fields = fields
    inlines = (ForgeRealmMigrationInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history of a tenant's installation ids: kept, as lifecycle events are.
        return False
