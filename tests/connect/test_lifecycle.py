"""Lifecycle callbacks: signed installs, rotation history, refusals that change nothing."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from django_atlassian_connect import signals
from django_atlassian_connect.models import LifecycleEvent, SharedSecret, Tenant
from django_atlassian_connect.testing import InstallKeyPair, install_token
from tests.conftest import APP_BASE_URL, assert_accepted, assert_refused, db_snapshot

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


# -- refusals: right code, nothing changed, delivery recorded --------------------


def assert_refused_install(site, response, code, status=401):
    body = assert_refused(response, code, status)
    event = LifecycleEvent.objects.filter(accepted=False).latest("received_at")
    assert event.error_code == code and event.status_code == status
    assert site.secret not in json.dumps(event.payload) + event.detail
    return body


@pytest.fixture
def victim(installed_site):
    """An installed tenant, and a snapshot of the database before the attack."""
    installed_site.snapshot = db_snapshot()
    return installed_site


def test_unsigned_install_cannot_hijack_a_tenant(victim):
    victim.secret = "attacker-secret"
    response = victim.post("installed", victim.payload(), token=None)
    assert_refused_install(victim, response, "token_missing")
    assert db_snapshot() == victim.snapshot


@pytest.mark.parametrize(
    "body,detail_part",
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (
            json.dumps({"key": "com.example.tests", "baseUrl": "https://x.atlassian.net"}),
            "clientKey",
        ),
        (
            json.dumps(
                {"key": "com.example.tests", "clientKey": "c", "baseUrl": "https://x.atlassian.net"}
            ),
            "sharedSecret",
        ),
        (
            json.dumps(
                {
                    "key": "com.example.tests",
                    "clientKey": "c",
                    "sharedSecret": "s",
                    "baseUrl": "ftp://x",
                }
            ),
            "http(s)",
        ),
        (
            json.dumps(
                {
                    "key": "com.example.tests",
                    "clientKey": 5,
                    "sharedSecret": "s",
                    "baseUrl": "https://x.atlassian.net",
                }
            ),
            "clientKey",
        ),
    ],
)
def test_malformed_install_body(victim, body, detail_part):
    response = victim.post("installed", body, victim.signed())
    assert detail_part in assert_refused_install(victim, response, "payload_invalid")["detail"]
    assert db_snapshot() == victim.snapshot


def test_event_type_must_match_the_callback(victim):
    response = victim.post("installed", victim.payload(eventType="uninstalled"), victim.signed())
    assert_refused_install(victim, response, "payload_invalid")


def test_other_apps_key_is_refused(victim):
    response = victim.post("installed", victim.payload(key="com.other.app"), victim.signed())
    assert_refused_install(victim, response, "app_key_mismatch")
    assert db_snapshot() == victim.snapshot


def test_product_host_not_allowed(site):
    site.base_url = "https://evil.example.com"
    assert_refused_install(site, site.install(), "product_host_not_allowed")
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_install_algorithm_is_fixed_to_rs256(victim, alg, install_key):
    claims = {
        "iss": victim.client_key,
        "aud": APP_BASE_URL,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "qsh": "x",
    }
    if alg == "none":
        token = jwt.encode(claims, None, algorithm="none")
    else:
        # Algorithm confusion: HS256 "signed" with the public key.
        import hashlib
        import hmac

        header = jwt.utils.base64url_encode(
            json.dumps({"alg": "HS256", "kid": install_key.kid}).encode()
        )
        payload = jwt.utils.base64url_encode(json.dumps(claims).encode())
        signing_input = header + b"." + payload
        sig = hmac.new(install_key.public_pem.encode(), signing_input, hashlib.sha256).digest()
        token = (signing_input + b"." + jwt.utils.base64url_encode(sig)).decode()
    response = victim.post("installed", victim.payload(), token)
    assert_refused_install(victim, response, "alg_not_allowed")
    assert db_snapshot() == victim.snapshot


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "a%2Fb", "https://evil.example.com/key", "k" * 10240, ""]
)
def test_kid_is_validated_before_use(victim, key_server, kid):
    token = jwt.encode(
        {
            "iss": victim.client_key,
            "aud": APP_BASE_URL,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "qsh": "x",
        },
        victim.key.private_pem,
        algorithm="RS256",
        headers={"kid": kid},
    )
    fetched = len(key_server.requests)
    response = victim.post("installed", victim.payload(), token)
    assert_refused_install(
        victim, response, "token_malformed" if len(token) > 16384 else "key_invalid"
    )
    assert len(key_server.requests) == fetched  # nothing was fetched
    assert db_snapshot() == victim.snapshot


def test_unknown_signing_key_is_refused(victim):
    stranger = InstallKeyPair()  # its kid is not on the key server
    token = install_token(stranger, client_key=victim.client_key, app_base_url=APP_BASE_URL)
    assert_refused_install(victim, victim.post("installed", victim.payload(), token), "key_invalid")
    assert db_snapshot() == victim.snapshot


def test_forged_signature_with_a_known_kid(victim):
    forger = InstallKeyPair(kid=victim.key.kid)  # same kid, another private key
    token = install_token(forger, client_key=victim.client_key, app_base_url=APP_BASE_URL)
    assert_refused_install(
        victim, victim.post("installed", victim.payload(), token), "signature_invalid"
    )
    assert db_snapshot() == victim.snapshot


def test_key_server_down_is_503_then_retry_succeeds(site, key_server):
    key_server.fail_with = 500
    response = site.install()
    assert_refused_install(site, response, "key_unavailable", status=503)
    assert response["Retry-After"]
    assert not Tenant.objects.exists()
    key_server.fail_with = None
    assert site.install().status_code == 204


def test_key_server_garbage_is_503(site, key_server):
    key_server.garbage = True
    assert_refused_install(site, site.install(), "key_unavailable", status=503)
    assert not Tenant.objects.exists()


def test_install_key_is_fetched_once_per_kid(site, key_server):
    before = len(key_server.requests)
    assert site.install().status_code == 204
    assert site.install().status_code == 204
    assert len(key_server.requests) - before == 1


@pytest.mark.parametrize(
    "claims,code",
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700}, "token_expired"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3700}, "token_not_yet_valid"),
        ({"nbf": int(time.time()) + 3600}, "token_not_yet_valid"),
        ({"aud": "https://other-app.example.com"}, "audience_invalid"),
        ({"aud": ["https://other-app.example.com", APP_BASE_URL]}, "audience_invalid"),
        ({"qsh": "0" * 64}, "qsh_mismatch"),
        ({"qsh": "context-qsh"}, "context_qsh_not_allowed"),
        ({"iss": "jira:someone-else"}, "issuer_mismatch"),
    ],
)
def test_install_token_claims_are_checked(victim, claims, code):
    victim.secret = "attacker-" + "q" * 40
    response = victim.post("installed", victim.payload(), victim.signed(**claims))
    assert_refused_install(victim, response, code)
    assert db_snapshot() == victim.snapshot


def test_install_token_without_exp_is_refused(victim):
    now = int(time.time())
    token = jwt.encode(
        {"iss": victim.client_key, "aud": APP_BASE_URL, "iat": now, "qsh": "x"},
        victim.key.private_pem,
        algorithm="RS256",
        headers={"kid": victim.key.kid},
    )
    assert_refused_install(
        victim, victim.post("installed", victim.payload(), token), "claim_missing"
    )


def test_install_token_for_another_path_is_refused(victim):
    token = victim.signed("uninstalled")  # qsh of POST /uninstalled
    assert_refused_install(
        victim, victim.post("installed", victim.payload(), token), "qsh_mismatch"
    )


def test_aud_trailing_slash_and_extra_base_urls(site, settings):
    assert (
        site.post("installed", site.payload(), site.signed(aud=APP_BASE_URL + "/")).status_code
        == 204
    )
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "EXTRA_BASE_URLS": ["https://alias.example.com"],
    }
    response = site.post("installed", site.payload(), site.signed(aud="https://alias.example.com"))
    assert response.status_code == 204


def test_token_of_tenant_a_with_body_of_tenant_b(victim, site_factory):
    other = site_factory()
    assert other.install().status_code == 204
    snapshot = db_snapshot()
    # Signed by Atlassian for A, body claims B's clientKey with a new secret.
    body = other.payload(sharedSecret="attacker-" + "w" * 40)
    response = victim.post("installed", body, victim.signed())
    assert_refused(response, "issuer_mismatch")
    assert db_snapshot() == snapshot


def test_uninstall_requires_a_signed_install_token(victim):
    response = victim.post(
        "uninstalled",
        victim.payload("uninstalled"),
        victim.page_token("/uninstalled", method="POST"),
    )
    assert_refused(response, "alg_not_allowed")
    assert db_snapshot() == victim.snapshot


def test_enabled_with_wrong_secret_or_other_client_key(victim):
    response = victim.post(
        "enabled",
        victim.payload("enabled"),
        victim.page_token("/enabled", method="POST", secret="not-the-secret-" + "n" * 32),
    )
    assert_refused(response, "signature_invalid")
    other_body = victim.payload("enabled", clientKey="jira:other")
    assert_refused(
        victim.post("enabled", other_body, victim.page_token("/enabled", method="POST")),
        "issuer_mismatch",
    )
    assert db_snapshot() == victim.snapshot


def test_enabled_for_unknown_or_uninstalled_tenant(site):
    assert_refused(site.hs_callback("enabled"), "tenant_unknown")
    assert site.install().status_code == 204
    assert site.uninstall().status_code == 204
    assert_refused(site.hs_callback("enabled"), "tenant_uninstalled")


def test_oversized_body_is_413(victim, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "MAX_LIFECYCLE_BODY": 1024}
    response = victim.post("installed", victim.payload(description="d" * 5000), victim.signed())
    assert_refused_install(victim, response, "payload_too_large", status=413)
    assert db_snapshot() == victim.snapshot


def test_oversized_token_is_refused(victim):
    response = victim.post("installed", victim.payload(), "a" * 1_000_000)
    assert_refused_install(victim, response, "token_malformed")


def test_lifecycle_urls_are_post_only(client, db):
    assert client.get("/installed").status_code == 405


def test_secret_is_encrypted_in_the_database(installed_site):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {SharedSecret._meta.db_table}")
        stored = [row[0] for row in cursor.fetchall()]
    assert stored and all(installed_site.secret not in value for value in stored)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {
                "key": "com.example.tests",
                "clientKey": "c",
                "sharedSecret": "s",
                "baseUrl": "https://[bad",
            }
        ),
        b"[" * 100_00 + b"]" * 100_00,
    ],
)
def test_hostile_bodies_are_refused_not_crashing(victim, body):
    response = victim.post("installed", body, victim.signed())
    assert_refused_install(victim, response, "payload_invalid")
    assert db_snapshot() == victim.snapshot


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
