from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AtlassianConnectConfig(AppConfig):
    name = "django_atlassian_connect"
    label = "django_atlassian_connect"
    verbose_name = _("Atlassian Connect")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import checks  # noqa: F401  (registers the system checks)
        from .connect import tenant_cache
        from .models import SharedSecret, get_tenant_model

        # Any change to a tenant or its secrets refreshes the warm-path cache.
        tenant_model = get_tenant_model()
        for signal in (post_save, post_delete):
            signal.connect(
                tenant_cache.on_tenant_changed,
                sender=tenant_model,
                dispatch_uid=f"dac-tenant-{signal}",
            )
            signal.connect(
                tenant_cache.on_secret_changed,
                sender=SharedSecret,
                dispatch_uid=f"dac-secret-{signal}",
            )
