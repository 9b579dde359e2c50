"""The lifecycle log (every delivery) and the signed lifecycle tokens already used."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .swappable import TENANT_MODEL


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
