import logging

from django.dispatch import receiver

from django_atlassian_connect.signals import (
    forge_installed,
    forge_upgraded,
    shared_secret_rotated,
    tenant_installed,
)

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
