"""Tenants: one installation of the app on one Atlassian site (swappable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..conf import TENANT_MODEL_SETTING, get_tenant_model_name

if TYPE_CHECKING:
    from django_stubs_ext.db.models.manager import RelatedManager

    from .forge import ForgeInstallation
    from .secrets import SharedSecret


class ProductType(models.TextChoices):
    JIRA = "jira", "Jira"
    CONFLUENCE = "confluence", "Confluence"


class AbstractTenant(models.Model):
    """One installation of the app on one Atlassian site.

    Holds every field of the ``installed`` payload except ``sharedSecret``,
    which lives in :class:`SharedSecret` with its history.
    """

    client_key = models.CharField(_("client key"), max_length=255, unique=True)
    app_key = models.CharField(_("app key"), max_length=255)
    base_url = models.URLField(_("base URL"), max_length=255)
    display_url = models.URLField(_("display URL"), max_length=255, blank=True)
    display_url_servicedesk_help_center = models.URLField(
        _("Service Desk help center display URL"), max_length=255, blank=True
    )
    product_type = models.CharField(_("product type"), max_length=32, blank=True)
    description = models.TextField(_("description"), blank=True)
    service_entitlement_number = models.CharField(max_length=255, blank=True)
    entitlement_id = models.CharField(max_length=255, blank=True)
    entitlement_number = models.CharField(max_length=255, blank=True)
    oauth_client_id = models.CharField(_("OAuth client id"), max_length=255, blank=True)
    installation_id = models.CharField(
        _("installation id"),
        max_length=255,
        blank=True,
        db_index=True,
        help_text=_("Connect-on-Forge installation ARI."),
    )
    cloud_id = models.CharField(
        _("cloud id"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_(
            "The site's cloudId when the signed install carried one: links Forge "
            "installations of the same site."
        ),
    )
    server_version = models.CharField(max_length=64, blank=True)
    plugins_version = models.CharField(max_length=64, blank=True)

    is_installed = models.BooleanField(_("installed"), default=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    installed_at = models.DateTimeField(_("last installed"), default=timezone.now)
    uninstalled_at = models.DateTimeField(_("uninstalled"), null=True, blank=True)
    enabled_at = models.DateTimeField(_("last enabled"), null=True, blank=True)
    disabled_at = models.DateTimeField(_("last disabled"), null=True, blank=True)
    created_at = models.DateTimeField(_("first installed"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Outcome of the last signed call made to check the installation
    # (``verify_installations``): a 401 means our secret is out of sync.
    last_verified_at = models.DateTimeField(_("last verified"), null=True, blank=True)
    verification_status = models.CharField(
        _("verification status"),
        max_length=16,
        blank=True,
        help_text=_("ok, unauthorized (secret suspect), forbidden or error."),
    )
    verification_detail = models.TextField(_("verification detail"), blank=True)

    if TYPE_CHECKING:
        shared_secrets: RelatedManager[SharedSecret]
        forge_installations: RelatedManager[ForgeInstallation]

    class Meta:
        abstract = True
        ordering = ["base_url"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return f"{self.base_url} ({self.client_key})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client_key!r} {self.base_url!r}>"

    @property
    def is_confluence(self) -> bool:
        return self.product_type == ProductType.CONFLUENCE or self.base_url.rstrip("/").endswith(
            "/wiki"
        )

    @property
    def current_secret(self) -> SharedSecret | None:
        """The secret that signs everything outbound (``None`` if none yet)."""
        return self.shared_secrets.filter(retired_at__isnull=True).first()


class Tenant(AbstractTenant):
    class Meta(AbstractTenant.Meta):
        swappable = TENANT_MODEL_SETTING


def get_tenant_model() -> type[AbstractTenant]:
    """The tenant model in use (``ATLASSIAN_CONNECT_TENANT_MODEL``)."""
    name = get_tenant_model_name()
    try:
        return apps.get_model(name, require_ready=False)  # type: ignore[return-value]
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{TENANT_MODEL_SETTING} must be of the form 'app_label.ModelName', not {name!r}."
        ) from exc
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{TENANT_MODEL_SETTING} refers to {name!r}, which is not installed."
        ) from exc
