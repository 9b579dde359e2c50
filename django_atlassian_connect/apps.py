from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AtlassianConnectConfig(AppConfig):
    name = "django_atlassian_connect"
    label = "django_atlassian_connect"
    verbose_name = _("Atlassian Connect")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
