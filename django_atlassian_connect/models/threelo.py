"""OAuth 2.0 (3LO) grants: a Django user's linked Atlassian account and its sites."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import crypto
from ..fields import EncryptedTextField
from .forge import ForgeInstallation
from .swappable import TENANT_MODEL

if TYPE_CHECKING:
    from django_stubs_ext.db.models.manager import RelatedManager

#: Atlassian's limits on a refresh token: unused for 90 days, or 365 days after consent.
REFRESH_TOKEN_INACTIVITY = timedelta(days=90)
CONSENT_LIFETIME = timedelta(days=365)


class OAuthGrant(models.Model):
    """One Django user's consent for one Atlassian account (authorization code grant).

    ``access_token`` and ``refresh_token`` are encrypted at rest (as shared
    secrets are) and never shown: ``repr()``, ``str()`` and the admin name
    them by fingerprint. Refresh tokens rotate on every refresh; only
    :mod:`django_atlassian_connect.threelo.grants` writes them, under the
    row's lock. ``status``: ``active``; ``revoked`` (Atlassian answered
    ``invalid_grant``, or the user disconnected); ``expired`` (past a limit
    we know of without asking: no refresh token, 90 days unused, 365 days
    after consent). Tokens are wiped when a grant stops being active.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        REVOKED = "revoked", _("revoked")
        EXPIRED = "expired", _("expired")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="atlassian_grants",
        verbose_name=_("user"),
    )
    account_id = models.CharField(
        _("Atlassian account id"),
        max_length=128,
        blank=True,
        help_text=_("From GET {API_URL}/me (scope read:me); empty when unknown."),
    )
    account_name = models.CharField(_("Atlassian account name"), max_length=255, blank=True)
    scopes = models.TextField(_("scopes"), blank=True, help_text=_("As granted, space-separated."))
    access_token = EncryptedTextField(_("access token (encrypted)"), null=True, editable=False)
    refresh_token = EncryptedTextField(_("refresh token (encrypted)"), null=True, editable=False)
    access_expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    refresh_token_issued_at = models.DateTimeField(
        _("refresh token issued"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("It expires after 90 days unused; housekeeping refreshes long before."),
    )
    consented_at = models.DateTimeField(
        _("consent given"), help_text=_("Grants end 365 days after consent, whatever happens.")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    if TYPE_CHECKING:
        sites: RelatedManager[OAuthSite]

    class Meta:
        verbose_name = _("OAuth 2.0 (3LO) grant")
        verbose_name_plural = _("OAuth 2.0 (3LO) grants")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account_id"], name="dac_oauthgrant_one_per_user_account"
            )
        ]

    def __str__(self) -> str:
        account = self.account_name or self.account_id or "unknown account"
        return f"{account} linked by user {self.user_id} ({self.status})"

    def __repr__(self) -> str:
        expires = f"{self.access_expires_at:%Y-%m-%dT%H:%M:%SZ}" if self.access_expires_at else None
        return (
            f"<OAuthGrant {self.pk} user={self.user_id} account={self.account_id!r} "
            f"status={self.status} access={self.access_token_fingerprint} "
            f"refresh={self.refresh_token_fingerprint} access_expires_at={expires}>"
        )

    @property
    def access_token_fingerprint(self) -> str | None:
        """A safe name for the stored access token (``None`` when there is none)."""
        return crypto.fingerprint(self.access_token) if self.access_token else None

    @property
    def refresh_token_fingerprint(self) -> str | None:
        """A safe name for the stored refresh token (``None`` when there is none)."""
        return crypto.fingerprint(self.refresh_token) if self.refresh_token else None

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def refresh_token_expires_at(self) -> datetime | None:
        """When the refresh token ends: 90 days after its issue, capped at 365 days after consent."""
        if not self.refresh_token or self.refresh_token_issued_at is None:
            return None
        return min(
            self.refresh_token_issued_at + REFRESH_TOKEN_INACTIVITY,
            self.consented_at + CONSENT_LIFETIME,
        )


class OAuthSite(models.Model):
    """A site a grant gives access to (one item of ``accessible-resources``).

    ``cloud_id`` is the resource's ``id``: calls go to
    ``{API_URL}/ex/jira/{cloud_id}``. Linked to the Connect tenant and the
    Forge installation with the same cloudId when they exist (found by
    cloudId only, never by URL).
    """

    grant = models.ForeignKey(
        OAuthGrant, on_delete=models.CASCADE, related_name="sites", verbose_name=_("grant")
    )
    cloud_id = models.CharField(_("cloud id"), max_length=64, db_index=True)
    url = models.URLField(_("site URL"), max_length=255, blank=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    scopes = models.TextField(_("scopes"), blank=True)
    tenant = models.ForeignKey(
        TENANT_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="oauth_sites",
        verbose_name=_("Connect tenant"),
    )
    forge_installation = models.ForeignKey(
        ForgeInstallation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="oauth_sites",
        verbose_name=_("Forge installation"),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("OAuth 2.0 (3LO) site")
        verbose_name_plural = _("OAuth 2.0 (3LO) sites")
        ordering = ["name", "cloud_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["grant", "cloud_id"], name="dac_oauthsite_one_per_grant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or self.url} ({self.cloud_id})"

    def __repr__(self) -> str:
        return f"<OAuthSite {self.cloud_id!r} {self.url!r} grant={self.grant_id}>"
