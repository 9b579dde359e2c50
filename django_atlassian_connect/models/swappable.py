"""The swappable tenant model's name, read once; nothing here writes settings."""

from __future__ import annotations

from ..conf import get_tenant_model_name

#: The tenant model in use, read once when the models are built (as
#: django-oauth-toolkit reads its swappable model names); the foreign keys
#: point at it. Nothing here writes to ``django.conf.settings``.
TENANT_MODEL: str = get_tenant_model_name()
