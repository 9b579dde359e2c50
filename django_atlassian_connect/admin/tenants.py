"""The tenants' admin: secret history, access tokens, lifecycle log, Forge links."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .. import crypto
from ..http import ratelimit
from ..models import AccessToken, ForgeInstallation, LifecycleEvent, SharedSecret, Tenant
from .common import ReadOnlyInline, SystemTokenStatus

logger = logging.getLogger("django_atlassian_connect")


class SharedSecretInline(ReadOnlyInline):
    model = SharedSecret
    fields = ("fingerprint", "became_current_at", "retired_at", "purged_at")
    readonly_fields = fields


class AccessTokenInline(ReadOnlyInline):
    model = AccessToken
    fields = ("account_id", "scopes", "token_fingerprint", "expires_at", "last_used_at")
    readonly_fields = fields

    @admin.display(description="access token")
    def token_fingerprint(self, obj: AccessToken) -> str:
        return crypto.fingerprint(obj.token) if obj.token else "-"


class LifecycleEventInline(ReadOnlyInline):
    model = LifecycleEvent
    fields = ("received_at", "event_type", "accepted", "status_code", "error_code", "detail")
    readonly_fields = fields
    max_num = 0


class ForgeInstallationInline(SystemTokenStatus, ReadOnlyInline):
    model = ForgeInstallation
    fk_name = "tenant"
    fields = (
        "installation_id",
        "product",
        "cloud_id",
        "environment_type",
        "link_method",
        "linked_at",
        "last_seen_at",
        "superseded_at",
        "system_token_status",
    )
    readonly_fields = fields
    ordering = ("superseded_at", "-linked_at")


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
        "cloud_id",
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
        "last_verified_at",
        "verification_status",
        "verification_detail",
        "rate_limit",
    )
    inlines = [
        SharedSecretInline,
        AccessTokenInline,
        ForgeInstallationInline,
        LifecycleEventInline,
    ]
    actions = ["mark_uninstalled", "delete_permanently"]

    @admin.display(description="rate limit")
    def rate_limit(self, obj: Any) -> str:
        """The quota the site last reported and any 429 backoff (shared cache, not the row)."""
        key = obj.client_key
        return ratelimit.describe(ratelimit.get_state(key), ratelimit.get_backoff(key))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tenants come from verified installs only.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The page is read-only: saving it would rewrite the row over a concurrent lifecycle
        # callback. "change" on the changelist allows the soft uninstall.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting drops the secrets, tokens and everything owned by the tenant:
        # superusers only, and never the default bulk action (see get_actions).
        return bool(request.user.is_superuser) and super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by the two explicit actions
        if not self.has_delete_permission(request):
            actions.pop("delete_permanently", None)
        return actions

    @admin.action(
        description="Mark selected tenants uninstalled (keeps their rows)", permissions=["change"]
    )
    def mark_uninstalled(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """What the product's ``uninstalled`` callback does: tokens stop working, data stays."""
        now = timezone.now()
        count = 0
        with transaction.atomic():
            for tenant in queryset.select_for_update().filter(is_installed=True):
                tenant.is_installed = False
                tenant.uninstalled_at = now
                tenant.save(update_fields=["is_installed", "uninstalled_at", "updated_at"])
                self.log_change(request, tenant, "Marked uninstalled in the admin.")
                logger.warning(
                    "tenant %s marked uninstalled in the admin by %s",
                    tenant.client_key,
                    request.user.get_username(),
                )
                count += 1
        self.message_user(request, f"Marked {count} tenant(s) uninstalled.", messages.SUCCESS)

    @admin.action(
        description="Delete selected tenants permanently (secrets, tokens and history)",
        permissions=["delete"],
    )
    def delete_permanently(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        # Django's own confirmation page lists everything that goes with them.
        return delete_selected(self, request, queryset)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for tenant in queryset:
            self._log_hard_delete(request, tenant)
        super().delete_queryset(request, queryset)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self._log_hard_delete(request, obj)
        super().delete_model(request, obj)

    def _log_hard_delete(self, request: HttpRequest, tenant: Any) -> None:
        logger.warning(
            "tenant %s (%s) DELETED permanently in the admin by %s, with %d secret(s) and "
            "%d access token(s)",
            tenant.client_key,
            tenant.base_url,
            request.user.get_username(),
            tenant.shared_secrets.count(),
            tenant.access_tokens.count(),
        )


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

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The audit trail of every delivery; the replay check reads the accepted ones.
        return False
