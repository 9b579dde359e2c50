"""The admin shows fingerprints, never a secret: every page of every model the package
registers, every action's confirmation page, the admin's history (``LogEntry``) and every
log record written meanwhile (SQL with its parameters included).

The database holds real secrets of every kind (``vault``); a page or a log line must hold
none of them, in plaintext or as their Fernet ciphertext, nor any whole JWT.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from django_atlassian_connect.models import LifecycleEvent, SharedSecret
from tests.security.admin_support import (
    REGISTERED,
    admin_client,
    admin_url,
    object_of,
    object_pages,
)
from tests.security.vault import Vault

pytestmark = [pytest.mark.django_db, pytest.mark.security]

#: The status of each page for a superuser: the logs and the Forge installations are
#: kept (no delete), and rows come from Atlassian only (no add).
STATUS = {
    "changelist": 200,
    "change": 200,
    "history": 200,
    "add": 403,
    "delete": {"tenant": 200, "oauthgrant": 200, "lifecycleevent": 403, "forgeinstallation": 403},
}


def shown_fingerprints(vault: Vault, model: str, view: str) -> list[str]:
    """The fingerprints a page names instead of the secrets."""
    fp = vault.fingerprints
    secrets = [value for name, value in fp.items() if name.startswith("Connect shared secret")]
    return {
        ("tenant", "change"): [*secrets, fp["Connect access token"], fp["Forge app system token"]],
        ("tenant", "delete"): secrets,
        ("forgeinstallation", "changelist"): [fp["Forge app system token"]],
        ("forgeinstallation", "change"): [fp["Forge app system token"]],
        ("oauthgrant", "change"): [fp["3LO access token"], fp["3LO refresh token"]],
    }.get((model, view), [])


def assert_page_clean(vault: Vault, response: Any, url: str, fingerprints: list[str]) -> None:
    html = response.content.decode()
    assert vault.leaks(html) == [], f"{url} shows a secret"
    missing = [fp for fp in fingerprints if fp not in html]
    assert missing == [], f"{url} does not name {missing}"


@pytest.mark.parametrize("model", REGISTERED)
def test_every_page_names_secrets_by_fingerprint_only(vault, all_logs, django_user_model, model):
    root = admin_client(django_user_model, superuser=True)
    obj = object_of(vault, model)
    pages = object_pages(model, obj.pk)
    for view, url in pages.items():
        response = root.get(url)
        expected = STATUS[view] if view != "delete" else STATUS["delete"][model]
        assert response.status_code == expected, (url, response.status_code)
        assert_page_clean(vault, response, url, shown_fingerprints(vault, model, view))
    searched = root.get(pages["changelist"], {"q": vault.tenant.client_key})
    assert searched.status_code == 200
    assert_page_clean(vault, searched, "search", shown_fingerprints(vault, model, "changelist"))
    assert vault.log_leaks(all_logs.records) == []
    assert any(r.name == "django.db.backends" for r in all_logs.records)  # SQL was captured


def test_every_lifecycle_event_page_is_clean(vault, all_logs, django_user_model):
    """The refused install carried the attacker's secret; accepted ones the site's."""
    root = admin_client(django_user_model, superuser=True)
    events = LifecycleEvent.objects.all()
    assert events.filter(accepted=False).exists() and events.filter(secret_rotated=True).exists()
    for event in events:
        url = admin_url("lifecycleevent", "change", event.pk)
        response = root.get(url)
        assert response.status_code == 200
        assert_page_clean(
            vault, response, url, [event.secret_fingerprint] if event.accepted else []
        )
    index = reverse("admin:app_list", kwargs={"app_label": "django_atlassian_connect"})
    assert_page_clean(vault, root.get(index), index, [])
    assert vault.log_leaks(all_logs.records) == []


@pytest.mark.parametrize(
    ("model", "action"), [("tenant", "delete_permanently"), ("oauthgrant", "delete_selected")]
)
def test_action_confirmation_pages_are_clean(vault, all_logs, django_user_model, model, action):
    root = admin_client(django_user_model, superuser=True)
    obj = object_of(vault, model)
    response = root.post(
        admin_url(model, "changelist"), {"action": action, "_selected_action": [obj.pk]}
    )
    assert response.status_code == 200 and "Are you sure" in response.content.decode()
    assert_page_clean(vault, response, action, shown_fingerprints(vault, model, "delete"))
    assert vault.log_leaks(all_logs.records) == []


def test_actions_leave_no_secret_in_history_or_logs(vault, all_logs, django_user_model):
    """Soft uninstall, a save of the read-only form (refused), the hard delete, a grant deleted."""
    root = admin_client(django_user_model, superuser=True)
    tenant, grant = vault.tenant, vault.grant
    changelist = admin_url("tenant", "changelist")
    selected = {"_selected_action": [tenant.pk]}
    root.post(changelist, {"action": "mark_uninstalled", **selected})
    root.post(admin_url("tenant", "change", tenant.pk), {"client_key": "jira:other"})
    history = root.get(admin_url("tenant", "history", tenant.pk))
    assert "Marked uninstalled in the admin." in history.content.decode()
    assert_page_clean(vault, history, "tenant history", [])
    root.post(changelist, {"action": "delete_permanently", "post": "yes", **selected})
    root.post(admin_url("oauthgrant", "delete", grant.pk), {"post": "yes"})
    assert not SharedSecret.objects.filter(tenant_id=tenant.pk).exists()

    entries = LogEntry.objects.all()
    assert {e.action_flag for e in entries} >= {2, 3}  # changed and deleted
    recorded = "\n".join(f"{e.object_repr}\n{e.change_message}" for e in entries)
    assert vault.leaks(recorded) == []
    assert vault.log_leaks(all_logs.records) == []
    said = all_logs.text
    assert "marked uninstalled in the admin" in said and "DELETED permanently" in said
