"""The attacks of the attack suite (tests/security/test_attacks.py): one function per attack."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from django_atlassian_connect.qsh import query_string_hash
from django_atlassian_connect.testing import InstallKeyPair, context_token
from tests.security.attack_target import HELLO, WEBHOOK, Site, Target, b64

# -- the attacks ---------------------------------------------------------------------

Attack = Callable[[Target], requests.Response]


def victim(t: Target) -> Site:
    return t.sites["victim"]


def hijack_body(t: Target, **overrides: Any) -> dict:
    """The victim's install body carrying the attacker's secret."""
    return t.body(victim(t), sharedSecret="ATCO-attacker-" + "a" * 40, **overrides)


def unsigned_install(t: Target) -> requests.Response:
    return t.post("/installed", hijack_body(t))


def unknown_key(t: Target) -> requests.Response:
    stranger = InstallKeyPair()  # its kid is not on the key server
    return t.post("/installed", hijack_body(t), t.rs256(t.install_claims(victim(t)), stranger))


def forged_known_kid(t: Target) -> requests.Response:
    forger = InstallKeyPair(kid=t.key.kid)  # Atlassian's kid, the attacker's private key
    return t.post("/installed", hijack_body(t), t.rs256(t.install_claims(victim(t)), forger))


def alg_none(t: Target) -> requests.Response:
    claims = t.install_claims(victim(t))
    token = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': t.key.kid}).encode())}.{b64(json.dumps(claims).encode())}."
    return t.post("/installed", hijack_body(t), token)


def alg_confusion(t: Target) -> requests.Response:
    """HS256 "signed" with Atlassian's public key, which anyone can download."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": t.key.kid}).encode())
    payload = b64(json.dumps(t.install_claims(victim(t))).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(t.key.public_pem.encode(), signing_input, hashlib.sha256).digest()
    return t.post("/installed", hijack_body(t), f"{header}.{payload}.{b64(signature)}")


def kid(value: str) -> Attack:
    def attack(t: Target) -> requests.Response:
        token = jwt.encode(
            t.install_claims(victim(t)),
            t.key.private_pem,
            algorithm="RS256",
            headers={"kid": value},
        )
        return t.post("/installed", hijack_body(t), token)

    return attack


def install_claims(**overrides: Any) -> Attack:
    def attack(t: Target) -> requests.Response:
        claims = t.install_claims(victim(t))
        for name, value in overrides.items():
            if value is _DROP:
                claims.pop(name)
            elif callable(value):
                claims[name] = value(t)
            else:
                claims[name] = value
        return t.post("/installed", hijack_body(t), t.rs256(claims))

    return attack


_DROP = object()
NOW = int(time.time())


def other_app_key(t: Target) -> requests.Response:
    return t.post("/installed", hijack_body(t, key="com.other.app"), t.install_token(victim(t)))


def host_not_allowed(t: Target) -> requests.Response:
    return t.post(
        "/installed",
        hijack_body(t, baseUrl="https://evil.example.com"),
        t.install_token(victim(t)),
    )


def token_of_a_body_of_b(t: Target) -> requests.Response:
    """Atlassian signed an install for A; the body names B with a new secret."""
    other = t.sites["other"]
    body = t.body(other, sharedSecret="ATCO-attacker-" + "b" * 40)
    return t.post("/installed", body, t.install_token(victim(t)))


def replay_after_uninstall(t: Target) -> requests.Response:
    """A captured install token replayed after the uninstall, with another secret."""
    site = t.sites["replayed"]
    captured = t.install_token(site, now=time.time() - 20)
    response = t.post("/installed", t.body(site), captured)
    assert response.status_code == 204, response.text
    response = t.post(
        "/uninstalled", t.body(site, "uninstalled"), t.install_token(site, "/uninstalled")
    )
    assert response.status_code == 204, response.text
    t.snapshot_now()  # the attack starts here
    return t.post("/installed", t.body(site, sharedSecret="ATCO-replayed-" + "r" * 40), captured)


def exact_replay(t: Target) -> requests.Response:
    """The very token of an accepted install, posted again at once with another secret."""
    site = t.sites["exact"]
    captured = t.install_token(site)
    response = t.post("/installed", t.body(site), captured)
    assert response.status_code == 204, response.text
    t.snapshot_now()  # the attack starts here: same token, same second, attacker's secret
    return t.post("/installed", t.body(site, sharedSecret="ATCO-exact-" + "x" * 40), captured)


def unsigned_uninstall(t: Target) -> requests.Response:
    return t.post("/uninstalled", t.body(victim(t), "uninstalled"))


def uninstall_with_hs256(t: Target) -> requests.Response:
    site = victim(t)
    return t.post(
        "/uninstalled",
        t.body(site, "uninstalled"),
        t.page_token(site, "/uninstalled", method="POST"),
    )


def lifecycle_malformed(token: str) -> Attack:
    return lambda t: t.post("/installed", hijack_body(t), token)


def lifecycle_duplicate_tokens(t: Target) -> requests.Response:
    site = victim(t)
    return t.post(
        "/installed?jwt=" + t.install_token(site, iat=int(time.time()) - 1),
        hijack_body(t),
        t.install_token(site),
    )


def lifecycle_token_60kb(t: Target) -> requests.Response:
    return t.post("/installed", hijack_body(t), "a" * 60_000)


def lifecycle_token_1mb_header(t: Target) -> requests.Response:
    return t.post("/installed", hijack_body(t), "a" * 1_000_000)


def lifecycle_token_1mb_form(t: Target) -> requests.Response:
    return t.post("/installed", data={"jwt": "a" * 1_000_000})


def lifecycle_body_1mb(t: Target) -> requests.Response:
    return t.post(
        "/installed", hijack_body(t, description="d" * 1_000_000), t.install_token(victim(t))
    )


def disabled_with_context_qsh(t: Target) -> requests.Response:
    site = victim(t)
    token = context_token(client_key=site.client_key, secret=site.secret)
    return t.post("/disabled", t.body(site, "disabled"), token)


def disabled_token_of_a_body_of_b(t: Target) -> requests.Response:
    site = victim(t)
    return t.post(
        "/disabled",
        t.body(t.sites["other"], "disabled"),
        t.page_token(site, "/disabled", method="POST"),
    )


def enabled_wrong_secret(t: Target) -> requests.Response:
    site = t.sites["disabled"]
    return t.post(
        "/enabled",
        t.body(site, "enabled"),
        t.page_token(site, "/enabled", method="POST", secret="attacker-" + "e" * 40),
    )


def page(make_token: Callable[[Target], str]) -> Attack:
    return lambda t: t.page_with_query_token(victim(t), make_token(t))


def page_hs256(**overrides: Any) -> Callable[[Target], str]:
    def make(t: Target) -> str:
        claims = t.page_claims(victim(t))
        for name, value in overrides.items():
            if value is _DROP:
                claims.pop(name)
            else:
                claims[name] = value
        return jwt.encode(claims, victim(t).secret, algorithm="HS256")

    return make


def page_duplicate_tokens(t: Target) -> requests.Response:
    site = victim(t)
    query_token = t.page_token(site)
    header_token = t.page_token(site, iat=int(time.time()) - 5)
    return requests.get(
        f"{t.url}{HELLO}&jwt={query_token}",
        headers={"Authorization": f"JWT {header_token}"},
        timeout=30,
    )


def page_token_1mb_query(t: Target) -> requests.Response:
    return requests.get(f"{t.url}/hello?jwt={'a' * 1_000_000}", timeout=30)


def page_token_1mb_header(t: Target) -> requests.Response:
    return t.get("/hello", "a" * 1_000_000)


def uninstalled_tenant_page(t: Target) -> requests.Response:
    return t.page_with_query_token(t.sites["uninstalled"])


def disabled_tenant_page(t: Target) -> requests.Response:
    return t.page_with_query_token(t.sites["disabled"])


def install_token_on_page(t: Target) -> requests.Response:
    site = victim(t)
    token = t.rs256({**t.install_claims(site), "qsh": query_string_hash("GET", HELLO, t.url)})
    return t.page_with_query_token(site, token)


def webhook(make_token: Callable[[Target], str]) -> Attack:
    return lambda t: t.post(
        WEBHOOK, {"webhookEvent": "jira:issue_created", "issue": {"key": "EVIL-1"}}, make_token(t)
    )


def webhook_form_token_1mb(t: Target) -> requests.Response:
    return t.post(WEBHOOK, data={"jwt": "a" * 1_000_000, "issue": "EVIL-2"})


def webhook_body_3mb(t: Target) -> requests.Response:
    site = victim(t)
    return t.post(
        WEBHOOK,
        {"webhookEvent": "jira:issue_created", "issue": {"key": "EVIL-3"}, "pad": "p" * 3_000_000},
        t.page_token(site, WEBHOOK, method="POST"),
    )


def unstorable_issuer(iss: str) -> Callable[[Target], str]:
    """An unsigned token whose iss no database column takes ("\u0000", "\ud800")."""

    def make(t: Target) -> str:
        claims = json.dumps({**t.page_claims(victim(t)), "iss": iss})  # escapes them
        return b64(b'{"alg": "HS256"}') + "." + b64(claims.encode()) + ".c2ln"

    return make


def install_body_unstorable_client_key(t: Target) -> requests.Response:
    return t.post(
        "/installed", hijack_body(t, clientKey="jira:\x00evil"), t.install_token(victim(t))
    )


def install_product_type_too_long(t: Target) -> requests.Response:
    """Signed by Atlassian, but productType is longer than its varchar(32) column."""
    return t.post("/installed", t.body(victim(t), productType="j" * 40), t.install_token(victim(t)))


def api_me_with_page_token(t: Target) -> requests.Response:
    site = victim(t)
    return t.get("/api/me", t.page_token(site, "/api/me"))


def api_me_with_other_tenants_secret(t: Target) -> requests.Response:
    site = victim(t)
    token = context_token(client_key=site.client_key, secret=t.sites["other"].secret)
    return t.get("/api/me", token)
