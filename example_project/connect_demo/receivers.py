import logging

from django.dispatch import receiver

from django_atlassian_connect.forge.product_events import forge_event_receiver
from django_atlassian_connect.signals import (
    forge_installed,
    forge_upgraded,
    shared_secret_rotated,
    tenant_installed,
)

from .models import IssueEvent

logger = logging.getLogger("connect_demo")


@receiver(tenant_installed)
def on_installed(sender, tenant, created, **kwargs):
    logger.info("tenant %s %s", tenant.base_url, "installed" if created else "reinstalled")


@receiver(shared_secret_rotated)
def on_rotated(sender, tenant, previous_fingerprint, fingerprint, **kwargs):
    logger.info(
        "shared secret of %s rotated: %s -> %s", tenant.base_url, previous_fingerprint, fingerprint
    )


@receiver(forge_installed)
def on_forge_installed(sender, installation, context, event, **kwargs):
    # Enqueue slow work (a Celery task with installation.pk) here: Forge waits 5 s.
    logger.info(
        "forge installation %s installed (%s %s)",
        installation.installation_id,
        installation.product,
        installation.cloud_id,
    )


@receiver(forge_upgraded)
def on_forge_upgraded(sender, installation, context, event, **kwargs):
    logger.info(
        "forge installation %s upgraded to %s", installation.installation_id, event.app_version
    )


@forge_event_receiver("avi:jira:created:issue")
def on_forge_issue_created(sender, installation, event_type, payload, context, **kwargs):
    # Runs once per event, inside a transaction: Forge waits 5 s, so enqueue anything slow
    # with transaction.on_commit(lambda: task.delay(installation.pk, ...)).
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    key = str(issue.get("key", ""))[:100]
    logger.info(
        "forge %s for installation %s: issue %s", event_type, installation.installation_id, key
    )
    if installation.tenant_id is not None:  # the same list the Connect webhook fills
        IssueEvent.objects.create(tenant=installation.tenant, event=event_type, issue_key=key)
