"""Forge installations and their app system tokens."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import crypto
from ..fields import EncryptedTextField
from .swappable import TENANT_MODEL


class ForgeInstallation(models.Model):
    """One Forge installation (``app.installationId``) seen by this backend.

    Created on the first verified Forge Invocation Token from an unknown
    installation, or by a signed Connect ``installed`` that names it. Linked to
    the Connect tenant of the same site when that can be proven (see
    :mod:`django_atlassian_connect.forge.installations`); never replaces it.
    A reinstall brings a new installation id: the old row stays, marked
    ``superseded_at``. ``system_token`` is the newest app system token Forge
    sent (``x-forge-oauth-system``), encrypted at rest and never shown:
    :attr:`system_token_fingerprint` names it.
    """

    class LinkMethod(models.TextChoices):
        NONE = "", _("not linked")
        CONNECT_INSTALL = "connect_install", _("signed Connect install")
        CLOUD_ID = "cloud_id", _("same cloudId as a linked installation")
        APP_PROPERTY = "app_property", _("Connect clientKey app property")
        MANUAL = "manual", _("manual")

    installation_id = models.CharField(
        _("installation id"),
        max_length=255,
        unique=True,
        help_text=_("ari:cloud:ecosystem::installation/<uuid>"),
    )
    app_id = models.CharField(_("app id"), max_length=255, blank=True)
    environment_type = models.CharField(_("environment type"), max_length=32, blank=True)
    environment_id = models.CharField(_("environment id"), max_length=255, blank=True)
    product = models.CharField(_("product"), max_length=32, blank=True)
    cloud_id = models.CharField(_("cloud id"), max_length=64, blank=True, db_index=True)
    api_base_url = models.URLField(
        _("API base URL"),
        max_length=255,
        blank=True,
        help_text=_("The gateway URL product calls go through (app.apiBaseUrl), not the site."),
    )
    site_url = models.URLField(
        _("site URL"),
        max_length=255,
        blank=True,
        help_text=_("context.siteUrl of a UI invocation: for display, never a key."),
    )
    tenant = models.ForeignKey(
        TENANT_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="forge_installations",
        verbose_name=_("Connect tenant"),
    )
    link_method = models.CharField(
        _("linked by"), max_length=32, choices=LinkMethod.choices, blank=True
    )
    linked_at = models.DateTimeField(_("linked"), null=True, blank=True)
    first_seen_at = models.DateTimeField(
        _("first invocation"), null=True, blank=True, help_text=_("First verified FIT.")
    )
    last_seen_at = models.DateTimeField(
        _("last invocation"), null=True, blank=True, help_text=_("Latest verified FIT.")
    )
    superseded_at = models.DateTimeField(
        _("superseded"),
        null=True,
        blank=True,
        help_text=_("When a newer installation id of the same tenant was linked."),
    )
    uninstalled_at = models.DateTimeField(
        _("uninstalled"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_(
            "When Forge's preUninstall or the linked Connect tenant's uninstall said it "
            "went away: no housekeeping and no ForgeClient call for it after that."
        ),
    )
    system_token = EncryptedTextField(_("app system token (encrypted)"), null=True, editable=False)
    system_token_expires_at = models.DateTimeField(
        _("system token expires"), null=True, blank=True, db_index=True
    )
    system_token_received_at = models.DateTimeField(
        _("system token received"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("Forge installation")
        verbose_name_plural = _("Forge installations")

    def __str__(self) -> str:
        where = " ".join(v for v in (self.product, self.cloud_id) if v) or "not seen yet"
        return f"{self.installation_id} ({where})"

    def __repr__(self) -> str:
        expires = (
            f"{self.system_token_expires_at:%Y-%m-%dT%H:%M:%SZ}"
            if self.system_token_expires_at
            else None
        )
        return (
            f"<ForgeInstallation {self.installation_id!r} tenant={self.tenant_id} "
            f"token={self.system_token_fingerprint} expires_at={expires}>"
        )

    @property
    def system_token_fingerprint(self) -> str | None:
        """A safe name for the stored system token (``None`` when there is none)."""
        return crypto.fingerprint(self.system_token) if self.system_token else None

    @property
    def is_current(self) -> bool:
        """``False`` once a newer installation id of the same tenant was linked."""
        return self.superseded_at is None

    @property
    def is_active(self) -> bool:
        """Current and not uninstalled: the installation outbound calls may use."""
        return self.superseded_at is None and self.uninstalled_at is None
