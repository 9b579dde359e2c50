"""Credentials: a tenant's shared-secret history and cached user access tokens."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import crypto
from ..fields import EncryptedTextField
from .swappable import TENANT_MODEL


class SharedSecret(models.Model):
    """A shared secret a tenant has had: the current one, or retired.

    ``secret`` is encrypted at rest and never shown; ``fingerprint`` names it
    in logs, the admin and diagnostics.
    """

    tenant = models.ForeignKey(
        TENANT_MODEL, on_delete=models.CASCADE, related_name="shared_secrets"
    )
    secret = EncryptedTextField(_("secret (encrypted)"), null=True, editable=False)
    fingerprint = models.CharField(_("fingerprint"), max_length=32, editable=False)
    became_current_at = models.DateTimeField(_("current since"), default=timezone.now)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True, db_index=True)
    purged_at = models.DateTimeField(
        _("secret material purged"),
        null=True,
        blank=True,
        help_text=_("Retired secrets are dropped after a retention period; the fingerprint stays."),
    )

    class Meta:
        ordering = ["-became_current_at", "-pk"]
        get_latest_by = "became_current_at"
        verbose_name = _("shared secret")
        verbose_name_plural = _("shared secrets")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(retired_at__isnull=True),
                name="dac_one_current_secret_per_tenant",
            )
        ]

    def __str__(self) -> str:
        state = (
            "current" if self.retired_at is None else f"retired {self.retired_at:%Y-%m-%d %H:%M:%S}"
        )
        return f"{self.fingerprint} ({state})"

    def __repr__(self) -> str:
        return f"<SharedSecret {self.fingerprint} tenant={self.tenant_id} retired_at={self.retired_at}>"

    @property
    def is_current(self) -> bool:
        return self.retired_at is None

    @classmethod
    def for_secret(cls, tenant: Any, secret: str, **kwargs: Any) -> SharedSecret:
        return cls(tenant=tenant, secret=secret, fingerprint=crypto.fingerprint(secret), **kwargs)


class AccessToken(models.Model):
    """A cached impersonation token (OAuth 2.0 JWT-bearer grant) for one user.

    One row per (tenant, account, scope set); ``scopes`` is normalised
    (upper-case, sorted, space-separated, empty for "no scope parameter").
    """

    tenant = models.ForeignKey(TENANT_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    account_id = models.CharField(_("account id"), max_length=128)
    scopes = models.CharField(_("scopes"), max_length=255, blank=True)
    token = EncryptedTextField(_("access token (encrypted)"), null=True, editable=False)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    obtained_at = models.DateTimeField(_("obtained"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "account_id", "scopes"], name="dac_one_token_per_user_and_scopes"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} [{self.scopes or 'default scopes'}] until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    def __repr__(self) -> str:
        return f"<AccessToken tenant={self.tenant_id} account={self.account_id!r} scopes={self.scopes!r} expires_at={self.expires_at}>"
