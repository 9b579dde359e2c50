"""What the admin's pages share: read-only inlines and the system token's status."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import ForgeInstallation


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SystemTokenStatus:
    @admin.display(description="app system token")
    def system_token_status(self, obj: ForgeInstallation) -> str:
        """The stored token's fingerprint and expiry, never the token."""
        fingerprint = obj.system_token_fingerprint
        if fingerprint is None:
            return "-"
        expires = obj.system_token_expires_at
        return f"{fingerprint} until {expires:%Y-%m-%d %H:%M:%S}" if expires else fingerprint
