"""What the admin's pages share: read-only inlines and the system token's status."""

from __future__ import annotations

from datetime import datetime
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


def token_status(
    fingerprint: str | None, when: datetime | None, shown: str = "{} until {:%Y-%m-%d %H:%M:%S}"
) -> str:
    """A stored token as the admin shows it: its fingerprint and ``when`` it ends, never the
    token; ``-`` when there is none."""
    if fingerprint is None:
        return "-"
    return shown.format(fingerprint, when) if when else fingerprint


class SystemTokenStatus:
    @admin.display(description="app system token")
    def system_token_status(self, obj: ForgeInstallation) -> str:
        """The stored token's fingerprint and expiry, never the token."""
        return token_status(obj.system_token_fingerprint, obj.system_token_expires_at)
