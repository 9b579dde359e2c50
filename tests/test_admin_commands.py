"""The admin (read-only, secrets never shown) and manage.py connect_tenants."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from django_atlassian_connect.models import LifecycleEvent, SharedSecret, Tenant
from tests.conftest import Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    """The test client, logged in as a superuser."""
    # No password: hashing one would only slow the tests down.
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    client.force_login(user)
    return client


def admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:django_atlassian_connect_{model}_{view}", args=args)


def assert_no_secret(response, *secrets: str) -> str:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    for secret in secrets:
        assert secret not in html
        # Not even a long piece of it.
        assert secret[-40:] not in html
    return html


def test_tenant_changelist_and_change_page(installed_site, staff):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    html = assert_no_secret(staff.get(admin_url("tenant", "changelist")), installed_site.secret)
    assert installed_site.base_url in html
    html = assert_no_secret(
        staff.get(admin_url("tenant", "change", tenant.pk)), installed_site.secret
    )
    # The inline shows the fingerprint of the current secret instead.
    assert tenant.current_secret.fingerprint in html
    assert installed_site.client_key in html


def test_rotated_secrets_are_never_shown(installed_site, staff):
    old = installed_site.secret
    response = installed_site.install(secret=old + "-rotated")
    assert response.status_code == 204
    new = installed_site.secret
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert SharedSecret.objects.filter(tenant=tenant).count() == 2
    html = assert_no_secret(staff.get(admin_url("tenant", "change", tenant.pk)), old, new)
    for row in SharedSecret.objects.filter(tenant=tenant):
        assert row.fingerprint in html


def test_search_does_not_expose_secrets(installed_site, staff):
    response = staff.get(admin_url("tenant", "changelist"), {"q": installed_site.client_key})
    html = assert_no_secret(response, installed_site.secret)
    assert installed_site.base_url in html


def test_lifecycle_event_admin(installed_site, staff):
    event = LifecycleEvent.objects.get(client_key=installed_site.client_key, event_type="installed")
    html = assert_no_secret(
        staff.get(admin_url("lifecycleevent", "changelist")), installed_site.secret
    )
    assert installed_site.client_key in html
    html = assert_no_secret(
        staff.get(admin_url("lifecycleevent", "change", event.pk)), installed_site.secret
    )
    assert installed_site.base_url in html


def test_refused_delivery_event_does_not_expose_the_attackers_secret(installed_site, staff):
    forged_secret = "ATCO-attacker-chosen-secret-" + "z" * 40
    body = installed_site.payload("installed", sharedSecret=forged_secret)
    response = installed_site.post("installed", body, token=None)
    assert response.status_code == 401
    event = LifecycleEvent.objects.filter(accepted=False).latest("received_at")
    assert forged_secret not in str(event.payload)
    for url in (
        admin_url("lifecycleevent", "changelist"),
        admin_url("lifecycleevent", "change", event.pk),
    ):
        assert_no_secret(staff.get(url), forged_secret, installed_site.secret)


@pytest.mark.parametrize("model", ["tenant", "lifecycleevent"])
def test_add_is_forbidden(installed_site, staff, model):
    response = staff.get(admin_url(model, "add"))
    assert response.status_code == 403
    changelist = staff.get(admin_url(model, "changelist")).content.decode()
    assert admin_url(model, "add") not in changelist


def test_lifecycle_events_cannot_be_changed(installed_site, staff):
    event = LifecycleEvent.objects.get(client_key=installed_site.client_key, event_type="installed")
    response = staff.post(
        admin_url("lifecycleevent", "change", event.pk),
        {"event_type": "uninstalled", "accepted": ""},
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.event_type == "installed" and event.accepted


def test_tenant_fields_are_read_only(installed_site, staff):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    staff.post(
        admin_url("tenant", "change", tenant.pk),
        {"client_key": "jira:hijacked", "base_url": "https://evil.example.com"},
    )
    tenant.refresh_from_db()
    assert tenant.client_key == installed_site.client_key
    assert tenant.base_url == installed_site.base_url


def test_shared_secrets_have_no_admin_of_their_own():
    assert SharedSecret not in admin.site._registry
    with pytest.raises(NoReverseMatch):
        admin_url("sharedsecret", "changelist")
    assert Tenant in admin.site._registry
    assert LifecycleEvent in admin.site._registry


def test_admin_requires_login(client, installed_site):
    response = client.get(admin_url("tenant", "changelist"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# -- manage.py connect_tenants ---------------------------------------------------------


def tenants_output(*args: str) -> str:
    out = io.StringIO()
    call_command("connect_tenants", *args, stdout=out)
    return out.getvalue()


def test_connect_tenants_lists_fingerprint_never_the_secret(installed_site):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    output = tenants_output()
    (line,) = [line for line in output.splitlines() if installed_site.client_key in line]
    fields = line.split("\t")
    assert fields[:4] == [installed_site.client_key, installed_site.base_url, "jira", "installed"]
    assert fields[4] == f"secret {tenant.current_secret.fingerprint}"
    assert installed_site.secret not in output


def test_connect_tenants_states_and_all_flag(installed_site):
    other = Site(
        client=installed_site.client,
        key=installed_site.key,
        client_key="jira:other-tenant",
        base_url="https://other-tenant.atlassian.net",
        secret="ATCO-other-" + "q" * 60,
    )
    assert other.install().status_code == 204
    assert other.uninstall().status_code == 204
    Tenant.objects.filter(client_key=installed_site.client_key).update(is_enabled=False)
    output = tenants_output()
    assert other.client_key not in output
    assert f"{installed_site.client_key}\t" in output and "\tdisabled\t" in output
    everything = tenants_output("--all")
    (line,) = [line for line in everything.splitlines() if other.client_key in line]
    assert "\tuninstalled\t" in line
    assert other.secret not in everything and installed_site.secret not in everything


def test_connect_tenants_tenant_without_secret():
    Tenant.objects.create(
        client_key="jira:bare", app_key="k", base_url="https://bare.atlassian.net"
    )
    output = tenants_output()
    assert "jira:bare\thttps://bare.atlassian.net\t-\tinstalled\tsecret -" in output


def test_connect_tenants_empty():
    assert tenants_output().strip() == "No installed tenants (--all lists uninstalled ones)."
    assert tenants_output("--all").strip() == "No tenants."


# -- uninstall is soft; deleting for good is explicit ---------------------------------------


def test_bulk_delete_is_replaced_by_a_soft_uninstall(installed_site, staff, caplog):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    changelist = staff.get(admin_url("tenant", "changelist")).content.decode()
    assert 'value="delete_selected"' not in changelist
    assert 'value="mark_uninstalled"' in changelist
    response = staff.post(
        admin_url("tenant", "changelist"),
        {"action": "mark_uninstalled", "_selected_action": [tenant.pk]},
        follow=True,
    )
    assert "Marked 1 tenant(s) uninstalled." in response.content.decode()
    tenant.refresh_from_db()
    assert not tenant.is_installed and tenant.uninstalled_at is not None
    assert tenant.shared_secrets.count() == 1  # nothing deleted
    assert "marked uninstalled in the admin by admin" in caplog.text
    token = installed_site.page_token("/page")
    assert installed_site.client.get("/page", {"jwt": token}).json()["code"] == "tenant_uninstalled"


def test_permanent_delete_is_superuser_only_confirmed_and_logged(
    installed_site, staff, client, django_user_model, caplog
):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    data = {"action": "delete_permanently", "_selected_action": [tenant.pk]}
    confirm = staff.post(admin_url("tenant", "changelist"), data)
    assert confirm.status_code == 200  # Django's confirmation page, nothing deleted yet
    assert "Are you sure" in confirm.content.decode()
    assert installed_site.secret not in confirm.content.decode()
    assert Tenant.objects.filter(pk=tenant.pk).exists()
    staff.post(admin_url("tenant", "changelist"), {**data, "post": "yes"})
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not SharedSecret.objects.filter(tenant_id=tenant.pk).exists()
    assert "DELETED permanently in the admin by admin, with 1 secret(s)" in caplog.text
    assert installed_site.secret not in caplog.text


def test_staff_without_superuser_cannot_delete(installed_site, client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("ops", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_tenant", "change_tenant", "delete_tenant"])
    )
    client.force_login(user)
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    changelist = client.get(admin_url("tenant", "changelist")).content.decode()
    assert 'value="delete_permanently"' not in changelist
    assert 'value="mark_uninstalled"' in changelist
    client.post(
        admin_url("tenant", "changelist"),
        {"action": "delete_permanently", "_selected_action": [tenant.pk], "post": "yes"},
    )
    assert client.post(admin_url("tenant", "delete", tenant.pk), {"post": "yes"}).status_code == 403
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_access_tokens_show_as_fingerprints_and_verification_is_read_only(installed_site, staff):
    from datetime import timedelta

    from django.utils import timezone

    from django_atlassian_connect.crypto import fingerprint
    from django_atlassian_connect.models import AccessToken

    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    raw = "access-token-" + "z" * 60
    AccessToken.objects.create(
        tenant=tenant, account_id="acc-1", token=raw, expires_at=timezone.now() + timedelta(hours=1)
    )
    html = assert_no_secret(staff.get(admin_url("tenant", "change", tenant.pk)), raw)
    assert fingerprint(raw) in html
    staff.post(admin_url("tenant", "change", tenant.pk), {"verification_status": "ok"})
    tenant.refresh_from_db()
    assert tenant.verification_status == ""


def test_forge_installation_page_shows_uninstall_and_realm_migrations_read_only(staff):
    from django.utils import timezone

    from django_atlassian_connect.models import ForgeInstallation, ForgeRealmMigration

    row = ForgeInstallation.objects.create(
        installation_id="ari:cloud:ecosystem::installation/admin-1",
        cloud_id="c-1",
        uninstalled_at=timezone.now(),
    )
    ForgeRealmMigration.objects.create(
        installation=row, migration_id="mig-42", location="EU", state="started"
    )
    changelist = staff.get(
        admin_url("forgeinstallation", "changelist") + "?uninstalled_at__isnull=False"
    )
    assert changelist.status_code == 200 and row.installation_id in changelist.content.decode()
    page = staff.get(admin_url("forgeinstallation", "change", row.pk)).content.decode()
    assert "uninstalled" in page.lower()
    assert "mig-42" in page and "EU" in page
    # Read-only: no form field to change the migration, no add row.
    assert 'name="realm_migrations-0-state"' not in page
