"""OAuth 2.0 (3LO) grants and the sites they reach, read-only (fingerprints only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import OAuthGrant, OAuthSite
from .common import ReadOnlyInline, token_status


class OAuthSiteInline(ReadOnlyInline):
    model = OAuthSite
    fields = ("cloud_id", "name", "url", "scopes", "tenant", "forge_installation", "updated_at")
    readonly_fields = fields


@admin.register(OAuthGrant)
class OAuthGrantAdmin(admin.ModelAdmin):
    """Read-only: grants come from users' consent only. Tokens show as fingerprints.

    Deleting a grant (superusers) disconnects the account: the user links it again.
    """

    list_display = (
        "user",
        "account_name",
        "account_id",
        "status",
        "access_expires_at",
        "refresh_token_issued_at",
        "consented_at",
        "last_used_at",
    )
    list_filter = ("status",)
    list_select_related = ("user",)
    search_fields = ("account_id", "account_name", "sites__cloud_id", "sites__url")
    ordering = ("-updated_at", "-pk")
    fields = (
        "user",
        "account_id",
        "account_name",
        "status",
        "status_changed_at",
        "last_error",
        "scopes",
        "access_token_status",
        "refresh_token_status",
        "refresh_token_issued_at",
        "consented_at",
        "last_used_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [OAuthSiteInline]

    @admin.display(description="access token")
    def access_token_status(self, obj: OAuthGrant) -> str:
        """The stored access token's fingerprint and expiry, never the token."""
        return token_status(obj.access_token_fingerprint, obj.access_expires_at)

    @admin.display(description="refresh token")
    def refresh_token_status(self, obj: OAuthGrant) -> str:
        """The stored refresh token's fingerprint and when it lapses, never the token."""
        return token_status(
            obj.refresh_token_fingerprint,
            obj.refresh_token_expires_at,
            "{}, lapses {:%Y-%m-%d} unless refreshed",
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_delete_permission(request, obj)
