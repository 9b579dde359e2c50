"""Data residency (realm) migrations Forge asked a Forge installation's remote to run."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .forge import ForgeInstallation


class ForgeRealmMigration(models.Model):
    """One ``migrationId`` of one installation and the step it reached.

    Forge calls ``schedule``, ``start``, then ``commit`` or ``rollback``
    (``status`` in between); the row records each accepted step so an
    out-of-order call is refused, and a repeated one (Forge retries) changes
    nothing. Written by :mod:`django_atlassian_connect.forge.realm`.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        STARTED = "started", _("started")
        COMMITTED = "committed", _("committed")
        ROLLED_BACK = "rolled_back", _("rolled back")

    installation = models.ForeignKey(
        ForgeInstallation,
        on_delete=models.CASCADE,
        related_name="realm_migrations",
        verbose_name=_("Forge installation"),
    )
    migration_id = models.CharField(_("migration id"), max_length=64)
    location = models.CharField(
        _("target location"), max_length=32, blank=True, help_text=_("e.g. EU, US")
    )
    window_start = models.DateTimeField(_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    scheduled_at = models.DateTimeField(_("scheduled"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(
        _("ended"), null=True, blank=True, help_text=_("When it was committed or rolled back.")
    )

    class Meta:
        verbose_name = _("Forge realm migration")
        verbose_name_plural = _("Forge realm migrations")
        constraints = [
            models.UniqueConstraint(
                fields=["installation", "migration_id"],
                name="dac_one_realm_migration_per_id",
            )
        ]

    def __str__(self) -> str:
        return f"realm migration {self.migration_id} of {self.installation_id} ({self.state})"
