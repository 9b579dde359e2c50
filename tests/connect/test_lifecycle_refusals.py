"""Refused lifecycle deliveries: the right code, nothing changed, the delivery recorded."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from django_atlassian_connect.models import LifecycleEvent, SharedSecret, Tenant
from django_atlassian_connect.testing import InstallKeyPair, install_token
from tests.conftest import APP_BASE_URL, assert_refused, db_snapshot

pytestmark = pytest.mark.django_db


# -- refusals: right code, nothing changed, delivery recorded --------------------


def assert_refused_install(site, response, code, status=401):
    body = assert_refused(response, code, status)
    event = LifecycleEvent.objects.filter(accepted=False).latest("received_at")
    assert event.error_code == code and event.status_code == status
    assert site.secret not in json.dumps(event.payload) + event.detail
    return body


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
