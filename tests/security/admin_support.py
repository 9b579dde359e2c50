"""The admin's pages and who asks for them: URLs, users with given permissions, and every row
an admin request could change (read as stored, ciphertext included)."""

from __future__ import annotations

import re
from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_atlassian_connect import models
from tests.security.vault import Vault

#: The models the package registers with the admin, by their URL name.
REGISTERED = ("tenant", "lifecycleevent", "forgeinstallation", "oauthgrant")
CSRF_FAILURE = "CSRF verification failed"


def admin_url(model: str, view: str, *args: Any) -> str:
    return reverse(f"admin:django_atlassian_connect_{model}_{view}", args=args)


def object_of(vault: Vault, model: str) -> Any:
    """The seeded row of ``model`` whose pages are visited."""
    return {
        "tenant": vault.tenant,
        "lifecycleevent": models.LifecycleEvent.objects.filter(tenant=vault.tenant).first(),
        "forgeinstallation": vault.installation,
        "oauthgrant": vault.grant,
    }[model]


def object_pages(model: str, pk: Any) -> dict[str, str]:
    """Every page of one object, and the model's changelist and add page."""
    pages = {view: admin_url(model, view) for view in ("changelist", "add")}
    pages.update({view: admin_url(model, view, pk) for view in ("change", "history", "delete")})
    return pages


def database_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row an admin request could touch, as the database holds it (ciphertext)."""
    owned = apps.get_app_config("django_atlassian_connect").get_models()
    with connection.cursor() as cursor:
        rows = {}
        for model in {*owned, models.get_tenant_model(), LogEntry}:
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {table} ORDER BY {model._meta.pk.column}")
            rows[table] = cursor.fetchall()
    return rows


def admin_client(
    django_user_model: Any, *codenames: str, superuser: bool = False, enforce_csrf: bool = False
) -> Client:
    """A client logged in as a staff user holding ``codenames`` (or a superuser)."""
    name = "root" if superuser else "staff-" + "-".join(codenames)[:100]
    user = django_user_model._default_manager.create_user(
        name, is_staff=True, is_superuser=superuser
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def permissions(*actions: str) -> list[str]:
    """``view_tenant``, ... of every registered model for each action."""
    return [f"{action}_{model}" for action in actions for model in REGISTERED]


def form_as_rendered(html: str) -> dict[str, str]:
    """The hidden inputs of a change form (ids, inline management forms), as a browser posts."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def csrf_token(client: Client) -> str:
    """The token the admin's forms carry (set by any admin page)."""
    client.get(admin_url("tenant", "changelist"))
    return client.cookies["csrftoken"].value
