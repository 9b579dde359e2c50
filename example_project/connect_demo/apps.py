from django.apps import AppConfig


class ConnectDemoConfig(AppConfig):
    name = "connect_demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
