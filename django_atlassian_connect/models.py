"""Tenants (installations), their shared-secret history and lifecycle log.

``Tenant`` is swappable: point ``ATLASSIAN_CONNECT_TENANT_MODEL`` at a
subclass of :class:`AbstractTenant` (before the first migration) and use
:func:`get_tenant_model` everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import crypto
from .conf import TENANT_MODEL_SETTING, get_tenant_model_name
from .fields import EncryptedTextField

#: The tenant model in use, read once when the models are built (as
#: django-oauth-toolkit reads its swappable model names); the foreign keys
#: below point at it. Nothing here writes to ``django.conf.settings``.
TENANT_MODEL: str = get_tenant_model_name()

if TYPE_CHECKING:
    from django_stubs_ext.db.models.manager import RelatedManager


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


class LifecycleEvent(models.Model):
    """One lifecycle callback delivery, accepted or refused, and why.

    The payload is stored without ``sharedSecret``.
    """

    class EventType(models.TextChoices):
        INSTALLED = "installed"
        UNINSTALLED = "uninstalled"
        ENABLED = "enabled"
        DISABLED = "disabled"

    event_type = models.CharField(max_length=16, choices=EventType.choices)
    client_key = models.CharField(max_length=255, blank=True, db_index=True)
    tenant = models.ForeignKey(
        TENANT_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lifecycle_events",
    )
    accepted = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True)
    base_url = models.CharField(max_length=255, blank=True)
    secret_fingerprint = models.CharField(max_length=32, blank=True)
    secret_rotated = models.BooleanField(default=False)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    token_issued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_(
            "iat of the verified signed-install token (installed/uninstalled): an older "
            "token for the same clientKey is refused as a replay."
        ),
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("lifecycle event")
        verbose_name_plural = _("lifecycle events")

    def __str__(self) -> str:
        outcome = "accepted" if self.accepted else f"refused ({self.error_code})"
        return f"{self.event_type} {self.client_key or '?'} {outcome}"


class SeenLifecycleToken(models.Model):
    """A signed lifecycle token already accepted, kept until it expires.

    An install token signs the method and path, not the body: the very token
    of an accepted install, posted again within its life with another
    ``sharedSecret``, would otherwise replace the tenant's secret. Only the
    token's SHA-256 is stored; the unique constraint makes every process and
    worker see a token used once, whichever answered it.
    """

    digest = models.CharField(_("token SHA-256"), max_length=64, unique=True, editable=False)
    client_key = models.CharField(_("client key"), max_length=255, blank=True, editable=False)
    event_type = models.CharField(_("event type"), max_length=16, editable=False)
    expires_at = models.DateTimeField(
        _("forget after"),
        db_index=True,
        help_text=_("The token's exp plus LEEWAY: later it is refused as expired anyway."),
    )
    seen_at = models.DateTimeField(_("seen"), default=timezone.now)

    class Meta:
        verbose_name = _("seen lifecycle token")
        verbose_name_plural = _("seen lifecycle tokens")

    def __str__(self) -> str:
        return f"{self.event_type} {self.client_key} {self.digest[:12]}"


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
