"""Accepted lifecycle callbacks: installs, secret rotation, state changes, one use per token."""

from __future__ import annotations

import json

import jwt
import pytest

from django_atlassian_connect import signals
from django_atlassian_connect.models import LifecycleEvent, Tenant
from tests.conftest import assert_accepted, assert_refused, db_snapshot

pytestmark = pytest.mark.django_db


# -- accepted deliveries -------------------------------------------------------


def test_first_install_creates_tenant_secret_and_event(site, django_capture_on_commit_callbacks):
    received = []
    signals.tenant_installed.connect(
        lambda **kw: received.append(kw), weak=False, dispatch_uid="t1"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = site.install()
    finally:
        signals.tenant_installed.disconnect(dispatch_uid="t1")
    assert response.status_code == 204
    tenant = Tenant.objects.get(client_key=site.client_key)
    assert tenant.base_url == site.base_url
    assert tenant.oauth_client_id == "oauth-client-1"
    assert tenant.product_type == "jira"
    assert tenant.service_entitlement_number == "SEN-1"
    assert tenant.is_installed and tenant.is_enabled
    secret = tenant.current_secret
    assert secret.secret == site.secret
    event = LifecycleEvent.objects.get()
    assert event.accepted and event.event_type == "installed" and event.tenant == tenant
    assert event.secret_fingerprint == secret.fingerprint
    assert site.secret not in json.dumps(event.payload)
    assert [r["created"] for r in received] == [True]
    assert received[0]["tenant"].pk == tenant.pk


def test_signals_wait_for_commit(site, django_capture_on_commit_callbacks):
    received = []
    signals.tenant_installed.connect(
        lambda **kw: received.append(kw), weak=False, dispatch_uid="t2"
    )
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert site.install().status_code == 204
        assert received == []  # not yet committed
        for callback in callbacks:
            callback()
        assert len(received) == 1
    finally:
        signals.tenant_installed.disconnect(dispatch_uid="t2")


def test_reinstall_with_same_secret_keeps_history(installed_site):
    assert installed_site.install().status_code == 204
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert tenant.shared_secrets.count() == 1
    assert LifecycleEvent.objects.filter(accepted=True).count() == 2


def test_reinstall_rotates_secret_and_keeps_history(
    installed_site, django_capture_on_commit_callbacks
):
    old_secret = installed_site.secret
    rotations = []
    signals.shared_secret_rotated.connect(
        lambda **kw: rotations.append(kw), weak=False, dispatch_uid="r"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert installed_site.install(secret="second-secret-" + "x" * 40).status_code == 204
            assert installed_site.install(secret="third-secret-" + "y" * 40).status_code == 204
    finally:
        signals.shared_secret_rotated.disconnect(dispatch_uid="r")
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    history = list(tenant.shared_secrets.order_by("became_current_at", "pk"))
    assert [s.secret for s in history] == [
        old_secret,
        "second-secret-" + "x" * 40,
        "third-secret-" + "y" * 40,
    ]
    assert [s.retired_at is None for s in history] == [False, False, True]
    assert tenant.current_secret.secret == installed_site.secret
    assert len(rotations) == 2
    assert rotations[1]["previous_fingerprint"] == history[1].fingerprint
    assert rotations[1]["fingerprint"] == history[2].fingerprint
    assert LifecycleEvent.objects.filter(secret_rotated=True).count() == 2


def test_reinstall_overwrites_oauth_client_id_and_base_url(installed_site):
    installed_site.oauth_client_id = "oauth-client-2"
    renamed = installed_site.base_url.replace("site-", "renamed-")
    installed_site.base_url = renamed
    assert installed_site.install().status_code == 204
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert tenant.oauth_client_id == "oauth-client-2"
    assert tenant.base_url == renamed


def test_connect_on_forge_installation_id_is_stored(site):
    ari = "ari:cloud:ecosystem::installation/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    assert site.install(installationId=ari).status_code == 204
    assert Tenant.objects.get(installation_id=ari).client_key == site.client_key


def test_uninstall_is_a_soft_delete_and_blocks_tokens(installed_site):
    token = installed_site.page_token("/page")
    assert installed_site.uninstall().status_code == 204
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert not tenant.is_installed and tenant.uninstalled_at is not None
    assert tenant.shared_secrets.count() == 1
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "tenant_uninstalled")
    # A later install brings it back.
    assert installed_site.install(secret="after-reinstall-" + "z" * 40).status_code == 204
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert_accepted(response, installed_site)
    tenant.refresh_from_db()
    assert tenant.is_installed and tenant.uninstalled_at is None


def test_uninstall_of_unknown_tenant_is_recorded_and_changes_nothing(site):
    before = db_snapshot()
    assert site.uninstall().status_code == 204
    assert db_snapshot() == before
    event = LifecycleEvent.objects.get()
    assert event.accepted and event.tenant is None and "nothing to do" in event.detail


def test_disable_and_enable(installed_site):
    assert installed_site.hs_callback("disabled").status_code == 204
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert not tenant.is_enabled and tenant.disabled_at
    assert_refused(
        installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")}),
        "tenant_disabled",
    )
    assert installed_site.hs_callback("enabled").status_code == 204
    tenant.refresh_from_db()
    assert tenant.is_enabled and tenant.enabled_at
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert_accepted(response, installed_site)


def test_disabled_tenants_allowed_when_configured(installed_site, settings):
    assert installed_site.hs_callback("disabled").status_code == 204
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "REJECT_DISABLED_TENANTS": False}
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert_accepted(response, installed_site)


# -- the very same token twice ---------------------------------------------------------


def test_the_accepted_install_token_replayed_with_another_secret_changes_nothing(victim):
    """The token signs method and path, not the body: a second use is a hijack attempt."""
    captured = victim.signed("installed")
    assert victim.post("installed", victim.payload(), captured).status_code == 204
    before = db_snapshot()
    current = Tenant.objects.get(client_key=victim.client_key).current_secret.secret

    body = victim.payload(sharedSecret="attacker-secret-" + "a" * 40)
    body = assert_refused(victim.post("installed", body, captured), "token_replayed")

    assert "already used" in body["detail"]
    assert db_snapshot() == before
    assert Tenant.objects.get(client_key=victim.client_key).current_secret.secret == current
    event = LifecycleEvent.objects.first()
    assert (event.accepted, event.error_code) == (False, "token_replayed")


def test_the_same_uninstall_token_twice_is_refused(installed_site):
    token = installed_site.signed("uninstalled")
    body = installed_site.payload("uninstalled")
    assert installed_site.post("uninstalled", body, token).status_code == 204
    assert_refused(installed_site.post("uninstalled", body, token), "token_replayed")


def test_a_refused_delivery_does_not_use_up_its_token(site):
    """Only an accepted delivery marks its token: the product may retry a failed one."""
    token = site.signed("installed")
    assert_refused(
        site.post("installed", site.payload(key="com.other.app"), token), "app_key_mismatch"
    )
    assert site.post("installed", site.payload(), token).status_code == 204


def test_seen_tokens_are_kept_until_they_expire_then_purged(installed_site):
    from datetime import timedelta

    from django.utils import timezone

    from django_atlassian_connect.maintenance import purge_seen_tokens
    from django_atlassian_connect.models import SeenLifecycleToken

    seen = SeenLifecycleToken.objects.get()
    claims = jwt.decode(installed_site.signed("installed"), options={"verify_signature": False})
    # exp + LEEWAY, to the second (the install token lives 180 s).
    assert abs((seen.expires_at - timezone.now()).total_seconds() - (180 + 30)) < 5
    assert len(seen.digest) == 64 and installed_site.client_key == seen.client_key
    assert claims["jti"]  # the simulator's tokens differ per delivery
    assert purge_seen_tokens() == 0
    assert purge_seen_tokens(now=seen.expires_at + timedelta(seconds=1)) == 1
    assert not SeenLifecycleToken.objects.exists()


def test_a_forged_enable_for_an_uninstalled_tenant_learns_nothing(installed_site):
    assert installed_site.uninstall().status_code == 204
    installed_site.secret = "forged-" + "e" * 40
    assert_refused(installed_site.hs_callback("enabled"), "signature_invalid")
