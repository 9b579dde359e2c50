"""Attacks on the admin: forged requests (no CSRF token), staff without the permission,
non-superusers deleting for good, the hard delete's confirmation skipped.

Each attack asserts the refusal and that no row changed: tenants, secrets, tokens, Forge
installations, 3LO grants and sites, lifecycle events and the admin's own ``LogEntry``,
read as stored (ciphertext included). Where a request with the right token or permission
would change rows, the test makes it too: the refusal is what protected them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.security.admin_support import (
    CSRF_FAILURE,
    REGISTERED,
    admin_client,
    admin_url,
    csrf_token,
    database_rows,
    form_as_rendered,
    object_of,
    object_pages,
    permissions,
)
from tests.security.vault import Vault

pytestmark = [pytest.mark.django_db, pytest.mark.security]


@dataclass
class Post:
    """One admin POST: to a model's changelist (an action) or to an object's delete page."""

    model: str
    url: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str | None:
        return self.data.get("action")


def _bulk(model: str, action: str, **extra: str) -> Callable[[Vault], Post]:
    def post(vault: Vault) -> Post:
        selected = [object_of(vault, model).pk]
        data = {"action": action, "_selected_action": selected, **extra}
        return Post(model, admin_url(model, "changelist"), data)

    return post


def _delete_page(model: str) -> Callable[[Vault], Post]:
    def post(vault: Vault) -> Post:
        return Post(model, admin_url(model, "delete", object_of(vault, model).pk), {"post": "yes"})

    return post


def offered_actions(client: Any, model: str) -> str:
    """The changelist's HTML, where each offered action is an <option value="...">."""
    return client.get(admin_url(model, "changelist")).content.decode()


#: Every request that changes rows when a superuser sends it with its CSRF token.
STATE_CHANGES = {
    "tenant: mark uninstalled": _bulk("tenant", "mark_uninstalled"),
    "tenant: hard delete, confirmed": _bulk("tenant", "delete_permanently", post="yes"),
    "tenant: delete page": _delete_page("tenant"),
    "3LO grant: bulk delete, confirmed": _bulk("oauthgrant", "delete_selected", post="yes"),
    "3LO grant: delete page": _delete_page("oauthgrant"),
}
#: The deletions only a superuser may make.
HARD_DELETES = [name for name in STATE_CHANGES if "delete" in name]
#: The deletions nobody may make: the lifecycle log and the Forge installations are kept.
KEPT = [
    make(model)
    for model in ("lifecycleevent", "forgeinstallation")
    for make in (lambda m: _bulk(m, "delete_selected", post="yes"), _delete_page)
]


@pytest.mark.parametrize("case", STATE_CHANGES)
def test_a_forged_post_is_refused_and_changes_nothing(vault, all_logs, django_user_model, case):
    root = admin_client(django_user_model, superuser=True, enforce_csrf=True)
    post = STATE_CHANGES[case](vault)
    before = database_rows()
    response = root.post(post.url, post.data)
    assert response.status_code == 403 and CSRF_FAILURE in response.content.decode()
    assert database_rows() == before
    root.post(post.url, {**post.data, "csrfmiddlewaretoken": csrf_token(root)})  # the form's
    assert database_rows() != before
    assert vault.log_leaks(all_logs.records) == []


def test_no_admin_page_takes_a_post_without_csrf_token(vault, all_logs, django_user_model):
    root = admin_client(django_user_model, superuser=True, enforce_csrf=True)
    before = database_rows()
    for model in REGISTERED:
        obj = object_of(vault, model)
        for url in object_pages(model, obj.pk).values():
            response = root.post(url, {"action": "delete_selected", "_selected_action": [obj.pk]})
            assert response.status_code == 403 and CSRF_FAILURE in response.content.decode(), url
    assert database_rows() == before
    assert vault.log_leaks(all_logs.records) == []


@pytest.mark.parametrize("model", REGISTERED)
def test_staff_without_the_models_permission_gets_403(vault, all_logs, django_user_model, model):
    """Every permission of the other models, none of this one's."""
    others = [p for p in permissions("view", "add", "change", "delete") if not p.endswith(model)]
    staff = admin_client(django_user_model, *others)
    obj = object_of(vault, model)
    before = database_rows()
    for url in object_pages(model, obj.pk).values():
        assert staff.get(url).status_code == 403, url
        data = {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        assert staff.post(url, data).status_code == 403, url
    for make in STATE_CHANGES.values():
        post = make(vault)
        if post.model == model:
            assert staff.post(post.url, post.data).status_code == 403, post.url
    assert database_rows() == before
    assert vault.log_leaks(all_logs.records) == []


def test_view_only_staff_changes_nothing(vault, all_logs, django_user_model):
    staff = admin_client(django_user_model, *permissions("view"))
    before = database_rows()
    for make in STATE_CHANGES.values():
        post = make(vault)
        if post.action:
            assert f'value="{post.action}"' not in offered_actions(staff, post.model)
        response = staff.post(post.url, post.data)
        assert database_rows() == before, post
        if not post.action:
            assert response.status_code == 403, post
    assert vault.log_leaks(all_logs.records) == []


@pytest.mark.parametrize("case", HARD_DELETES)
def test_only_a_superuser_deletes_for_good(vault, all_logs, django_user_model, case):
    staff = admin_client(django_user_model, *permissions("view", "add", "change", "delete"))
    post = STATE_CHANGES[case](vault)
    if post.action:
        assert f'value="{post.action}"' not in offered_actions(staff, post.model)
    else:
        assert staff.get(post.url).status_code == 403
    before = database_rows()
    staff.post(post.url, post.data)
    assert database_rows() == before
    root = admin_client(django_user_model, superuser=True)
    root.post(post.url, post.data)
    assert database_rows() != before
    assert vault.log_leaks(all_logs.records) == []


def test_logs_and_forge_installations_are_kept(vault, all_logs, django_user_model):
    """Lifecycle events are the audit trail (and the replay check reads them)."""
    root = admin_client(django_user_model, superuser=True)
    before = database_rows()
    for make in KEPT:
        post = make(vault)
        assert 'value="delete_selected"' not in offered_actions(root, post.model)
        if not post.action:
            assert root.get(post.url).status_code == 403, post
        root.post(post.url, post.data)
        assert database_rows() == before, post
    assert vault.log_leaks(all_logs.records) == []


@pytest.mark.parametrize("model", REGISTERED)
def test_a_change_form_saves_nothing_however_filled(vault, all_logs, django_user_model, model):
    """Every field and inline row posted with planted values, inline rows marked for deletion:
    pages are read-only (a tenant's save would also rewrite its row, ``updated_at`` included)."""
    root = admin_client(django_user_model, superuser=True)
    obj = object_of(vault, model)
    url = admin_url(model, "change", obj.pk)
    data = form_as_rendered(root.get(url).content.decode())
    data.update({f.attname: "planted" for f in type(obj)._meta.concrete_fields})
    for total in [name for name in data if name.endswith("-TOTAL_FORMS")]:
        prefix = total.removesuffix("-TOTAL_FORMS")
        data.update({f"{prefix}-0-DELETE": "on", f"{prefix}-0-secret": "ATCO-planted"})
    before = database_rows()
    assert root.post(url, data).status_code == 403
    assert database_rows() == before
    assert vault.log_leaks(all_logs.records) == []


@pytest.mark.parametrize("model", ["tenant", "oauthgrant"])
def test_the_delete_confirmation_cannot_be_skipped(vault, all_logs, django_user_model, model):
    root = admin_client(django_user_model, superuser=True)
    obj = object_of(vault, model)
    action = "delete_permanently" if model == "tenant" else "delete_selected"
    changelist, page = admin_url(model, "changelist"), admin_url(model, "delete", obj.pk)
    before = database_rows()
    asked = [
        root.get(page),
        root.post(changelist, {"action": action, "_selected_action": [obj.pk]}),
    ]
    assert [r.status_code for r in asked] == [200, 200]
    assert all("Are you sure" in r.content.decode() for r in asked)
    root.get(changelist, {"action": action, "_selected_action": obj.pk, "post": "yes"})
    root.post(changelist, {"action": action, "post": "yes"})  # nothing selected
    assert database_rows() == before
    root.post(changelist, {"action": action, "_selected_action": [obj.pk], "post": "yes"})
    assert database_rows() != before
    assert vault.log_leaks(all_logs.records) == []
