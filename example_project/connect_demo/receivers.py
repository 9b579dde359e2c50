import logging

from django.dispatch import receiver

from django_atlassian_connect.signals import shared_secret_rotated, tenant_installed

logger = logging.getLogger("connect_demo")


@receiver(tenant_installed)
def on_installed(sender, tenant, created, **kwargs):
    logger.info("tenant %s %s", tenant.base_url, "installed" if created else "reinstalled")


@receiver(shared_secret_rotated)
def on_rotated(sender, tenant, previous_fingerprint, fingerprint, **kwargs):
    logger.info(
        "shared secret of %s rotated: %s -> %s", tenant.base_url, previous_fingerprint, fingerprint
    )
