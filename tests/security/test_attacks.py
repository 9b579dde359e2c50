"""The attack suite: the example project over real HTTP, one attack per test.

Every attack asserts the refusal (HTTP status and ``code``) *and* that no row
of the app's tables changed: tenants, shared secrets (fingerprints, ciphertext,
``retired_at``), access tokens and the demo's webhook log, read directly from
the example project's database. The only rows an attack may add are refused
``LifecycleEvent`` records. No attack may get a 500.

``CONNECT_ATTACK_REPORT=path.json`` writes the results (for docs/security.rst).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import requests

from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from django_atlassian_connect.testing import (
    InstallKeyPair,
    InstallKeyServer,
    context_token,
    install_token,
    request_token,
)
from tests.security.support import new_secret

pytestmark = [pytest.mark.e2e, pytest.mark.security]

APP_KEY = "com.example.django-connect-demo"
ACCOUNT = "557058:f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"
HELLO = "/hello?xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&lic=none"
WEBHOOK = "/webhooks/issue-created"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Site:
    client_key: str
    secret: str
    base_url: str


@dataclass
class Target:
    """The running example app, its database, the install key and the tenants."""

    running: Any
    key: InstallKeyPair
    key_server: InstallKeyServer
    sites: dict[str, Site] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.base_url

    # -- tokens ----------------------------------------------------------------

    def install_token(self, site: Site, path: str = "/installed", **claims: Any) -> str:
        return install_token(
            self.key, client_key=site.client_key, app_base_url=self.url, path=path, **claims
        )

    def install_claims(self, site: Site, path: str = "/installed", **overrides: Any) -> dict:
        now = int(time.time())
        claims = {
            "iss": site.client_key,
            "aud": [self.url],
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", path, self.url),
            "context": {},
        }
        claims.update(overrides)
        return claims

    def rs256(self, claims: dict, key: InstallKeyPair | None = None, **headers: Any) -> str:
        key = key or self.key
        return jwt.encode(
            claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid, **headers}
        )

    def page_token(self, site: Site, url: str = HELLO, method: str = "GET", **claims: Any) -> str:
        return request_token(
            client_key=site.client_key,
            secret=claims.pop("secret", site.secret),
            method=method,
            url=url,
            app_base_url=self.url,
            account_id=ACCOUNT,
            **claims,
        )

    def page_claims(self, site: Site, url: str = HELLO, method: str = "GET", **overrides: Any):
        now = int(time.time())
        claims = {
            "iss": site.client_key,
            "sub": ACCOUNT,
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash(method, url, self.url),
            "context": {},
        }
        claims.update(overrides)
        return claims

    # -- requests --------------------------------------------------------------

    def body(self, site: Site, event: str = "installed", **overrides: Any) -> dict:
        body = {
            "key": APP_KEY,
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "productType": "jira",
            "description": "Attack suite site",
            "oauthClientId": "oc-" + site.client_key[-6:],
            "eventType": event,
        }
        if event == "installed":
            body["sharedSecret"] = site.secret
        body.update(overrides)
        return body

    def post(
        self,
        path: str,
        body: Any = None,
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return requests.post(self.url + path, headers=headers, timeout=30, **kwargs)

    def get(
        self, path: str, token: str | None = None, *, headers: dict[str, str] | None = None
    ) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        return requests.get(self.url + path, headers=headers, timeout=30)

    def page_with_query_token(self, site: Site, token: str | None = None) -> requests.Response:
        token = token or self.page_token(site)
        return requests.get(f"{self.url}{HELLO}&jwt={token}", timeout=30)


def new_site(label: str) -> Site:
    return Site(
        client_key=f"jira:{uuid.uuid4()}",
        secret=new_secret(),
        base_url=f"https://{label}-{uuid.uuid4().hex[:6]}.atlassian.net",
    )


@pytest.fixture(scope="module")
def target(app_factory) -> Iterator[Target]:
    key = InstallKeyPair()
    with InstallKeyServer(key) as key_server:
        running = app_factory("attacks", key_server.url)
        t = Target(running=running, key=key, key_server=key_server)
        for name in ("victim", "other", "disabled", "uninstalled", "replayed", "exact"):
            t.sites[name] = new_site(name)
        for name in ("victim", "other", "disabled", "uninstalled"):
            site = t.sites[name]
            response = t.post("/installed", t.body(site), t.install_token(site))
            assert response.status_code == 204, response.text
        disabled = t.sites["disabled"]
        response = t.post(
            "/disabled",
            t.body(disabled, "disabled"),
            t.page_token(disabled, "/disabled", method="POST"),
        )
        assert response.status_code == 204, response.text
        gone = t.sites["uninstalled"]
        response = t.post(
            "/uninstalled", t.body(gone, "uninstalled"), t.install_token(gone, "/uninstalled")
        )
        assert response.status_code == 204, response.text
        yield t


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


BAD_B64 = "e30.!!!notbase64!!!.c2ln"
BAD_JSON = b64(b'{"alg": "RS256",') + "." + b64(b"{}") + ".c2ln"
NONE_HEADER = b64(b'{"alg": "none"}')
NON_OBJECT = f"{b64(json.dumps({'alg': 'RS256', 'kid': 'k'}).encode())}.{b64(b'[1, 2, 3]')}.c2ln"

# (id, endpoint kind, attack, HTTP status, code or None for a refusal by the HTTP server)
ATTACKS: list[tuple[str, str, Attack, int, str | None]] = [
    # installed / uninstalled: signed installs
    ("unsigned installed over an existing tenant", "installed", unsigned_install, 401, "token_missing"),
    ("installed signed by an unknown key", "installed", unknown_key, 401, "key_invalid"),
    ("installed forged with Atlassian's kid", "installed", forged_known_kid, 401, "signature_invalid"),
    ("alg none", "installed", alg_none, 401, "alg_not_allowed"),
    ("HS256 signed with the public key", "installed", alg_confusion, 401, "alg_not_allowed"),
    ("kid ../../etc/passwd", "installed", kid("../../etc/passwd"), 401, "key_invalid"),
    ("kid with %2F", "installed", kid("a%2Fb"), 401, "key_invalid"),
    ("kid is a URL", "installed", kid("https://evil.example.com/key.pem"), 401, "key_invalid"),
    ("kid of 10 kB", "installed", kid("k" * 10_240), 401, "key_invalid"),
    ("kid with a newline", "installed", kid("abc\n"), 401, "key_invalid"),
    ("aud of another app", "installed", install_claims(aud=["https://other-app.example.com"]), 401, "audience_invalid"),
    ("aud list with ours second", "installed", install_claims(aud=lambda t: ["https://other-app.example.com", t.url]), 401, "audience_invalid"),
    ("iss is not the body clientKey", "installed", install_claims(iss="jira:someone-else"), 401, "issuer_mismatch"),
    ("body key of another app", "installed", other_app_key, 401, "app_key_mismatch"),
    ("product host not on the allow-list", "installed", host_not_allowed, 401, "product_host_not_allowed"),
    ("install token expired", "installed", install_claims(iat=NOW - 3700, exp=NOW - 3600), 401, "token_expired"),
    ("install token not yet valid (iat)", "installed", install_claims(iat=NOW + 3600, exp=NOW + 3700), 401, "token_not_yet_valid"),
    ("install token not yet valid (nbf)", "installed", install_claims(nbf=NOW + 3600), 401, "token_not_yet_valid"),
    ("install token without exp", "installed", install_claims(exp=_DROP), 401, "claim_missing"),
    ("install token with exp NaN-like string", "installed", install_claims(exp="soon"), 401, "token_malformed"),
    ("install token with the qsh of another URL", "installed", install_claims(qsh=lambda t: query_string_hash("POST", "/uninstalled", t.url)), 401, "qsh_mismatch"),
    ("install token with context-qsh", "installed", install_claims(qsh=CONTEXT_QSH), 401, "context_qsh_not_allowed"),
    ("install token without qsh", "installed", install_claims(qsh=_DROP), 401, "qsh_missing"),
    ("token of tenant A, body of tenant B", "installed", token_of_a_body_of_b, 401, "issuer_mismatch"),
    ("replayed install after uninstall, another secret", "installed", replay_after_uninstall, 401, "token_replayed"),
    ("the accepted install token again at once, another secret", "installed", exact_replay, 401, "token_replayed"),
    ("malformed base64", "installed", lifecycle_malformed(BAD_B64), 401, "token_malformed"),
    ("malformed JSON header", "installed", lifecycle_malformed(BAD_JSON), 401, "token_malformed"),
    ("non-object claims", "installed", lifecycle_malformed(NON_OBJECT), 401, "token_malformed"),
    ("two parts only", "installed", lifecycle_malformed("a.b"), 401, "token_malformed"),
    ("jwt in query and header differ", "installed", lifecycle_duplicate_tokens, 401, "token_ambiguous"),
    ("token of 60 kB", "installed", lifecycle_token_60kb, 401, "token_malformed"),
    ("token of 1 MB in the header", "installed", lifecycle_token_1mb_header, 431, None),
    ("token of 1 MB in a form body", "installed", lifecycle_token_1mb_form, 413, "payload_too_large"),
    ("body of 1 MB", "installed", lifecycle_body_1mb, 413, "payload_too_large"),
    ("clientKey with a NUL character", "installed", install_body_unstorable_client_key, 401, "payload_invalid"),
    ("productType longer than its column", "installed", install_product_type_too_long, 401, "payload_invalid"),
    ("unsigned uninstalled", "uninstalled", unsigned_uninstall, 401, "token_missing"),
    ("uninstalled with an HS256 tenant token", "uninstalled", uninstall_with_hs256, 401, "alg_not_allowed"),
    # enabled / disabled: HS256 callbacks
    ("context-qsh on the disabled callback", "disabled", disabled_with_context_qsh, 401, "context_qsh_not_allowed"),
    ("disabled: token of tenant A, body of tenant B", "disabled", disabled_token_of_a_body_of_b, 401, "issuer_mismatch"),
    ("enabled signed with a wrong secret", "enabled", enabled_wrong_secret, 401, "signature_invalid"),
    # a page (iframe, computed qsh)
    ("page: context-qsh", "page", page(lambda t: context_token(client_key=victim(t).client_key, secret=victim(t).secret)), 401, "context_qsh_not_allowed"),
    ("page: qsh of another URL", "page", page(lambda t: t.page_token(victim(t), "/somewhere-else")), 401, "qsh_mismatch"),
    ("page: expired", "page", page(page_hs256(iat=NOW - 3700, exp=NOW - 3600)), 401, "token_expired"),
    ("page: not yet valid", "page", page(page_hs256(iat=NOW + 3600, exp=NOW + 3700)), 401, "token_not_yet_valid"),
    ("page: no exp", "page", page(page_hs256(exp=_DROP)), 401, "claim_missing"),
    ("page: alg none", "page", page(lambda t: NONE_HEADER + "." + b64(json.dumps(t.page_claims(victim(t))).encode()) + "."), 401, "alg_not_allowed"),
    ("page: RS256 install token", "page", install_token_on_page, 401, "alg_not_allowed"),
    ("page: signed with the attacker's secret", "page", page(lambda t: t.page_token(victim(t), secret="attacker-" + "s" * 40)), 401, "signature_invalid"),
    ("page: unknown clientKey", "page", page(lambda t: t.page_token(new_site("nobody"))), 401, "tenant_unknown"),
    ("page: token after uninstall", "page", uninstalled_tenant_page, 401, "tenant_uninstalled"),
    ("page: disabled tenant", "page", disabled_tenant_page, 401, "tenant_disabled"),
    ("page: jwt in query and header differ", "page", page_duplicate_tokens, 401, "token_ambiguous"),
    ("page: malformed base64", "page", page(lambda t: BAD_B64), 401, "token_malformed"),
    ("page: non-object claims", "page", page(lambda t: NON_OBJECT), 401, "token_malformed"),
    ("page: iss with a NUL character", "page", page(unstorable_issuer("jira:\x00")), 401, "token_malformed"),
    ("page: iss with an unpaired surrogate", "page", page(unstorable_issuer("jira:\ud800")), 401, "token_malformed"),
    ("page: token of 1 MB in the query", "page", page_token_1mb_query, 414, None),
    ("page: token of 1 MB in the header", "page", page_token_1mb_header, 431, None),
    # a webhook (computed qsh, POST)
    ("webhook: context-qsh", "webhook", webhook(lambda t: context_token(client_key=victim(t).client_key, secret=victim(t).secret)), 401, "context_qsh_not_allowed"),
    ("webhook: qsh of another URL", "webhook", webhook(lambda t: t.page_token(victim(t), "/webhooks/other", method="POST")), 401, "qsh_mismatch"),
    ("webhook: token of an uninstalled tenant", "webhook", webhook(lambda t: t.page_token(t.sites["uninstalled"], WEBHOOK, method="POST")), 401, "tenant_uninstalled"),
    ("webhook: token of 1 MB in a form body", "webhook", webhook_form_token_1mb, 401, "token_malformed"),
    ("webhook: body of 3 MB", "webhook", webhook_body_3mb, 400, None),
    # the context-token API
    ("api: page token instead of a context token", "api", api_me_with_page_token, 401, "context_qsh_required"),
    ("api: context token signed with another tenant's secret", "api", api_me_with_other_tenants_secret, 401, "signature_invalid"),
]  # fmt: skip

RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    path = os.environ.get("CONNECT_ATTACK_REPORT")
    if path:
        with open(path, "w") as handle:
            json.dump(RESULTS, handle, indent=1)


@pytest.mark.parametrize(
    "endpoint,attack,status,code",
    [pytest.param(*rest, id=name) for name, *rest in ATTACKS],
)
def test_attack_is_refused_and_changes_nothing(request, target, endpoint, attack, status, code):
    db = target.running.db
    state: dict[str, Any] = {}

    def snapshot_now() -> None:
        state["before"] = db.snapshot()
        state["last_event"] = db.last_event_id()
        state["key_fetches"] = len(target.key_server.requests)

    target.snapshot_now = snapshot_now  # type: ignore[attr-defined]
    snapshot_now()
    response = attack(target)

    assert response.status_code != 500
    assert response.status_code == status, response.text[:500]
    if code is not None:
        body = response.json()
        assert body["code"] == code, body
        assert body["detail"] and body["hint"]
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith(f'JWT realm="{APP_KEY}"')
    assert db.snapshot() == state["before"], "the attack changed a row"
    events = db.events_after(state["last_event"])
    assert all(not event["accepted"] for event in events), events
    if endpoint in ("installed", "uninstalled", "enabled", "disabled") and code is not None:
        assert [e["error_code"] for e in events] == [code]
        assert events[0]["event_type"] == endpoint
    if request.node.callspec.id.startswith("kid "):
        assert len(target.key_server.requests) == state["key_fetches"], "a bad kid was fetched"
    RESULTS.append(
        {
            "attack": request.node.callspec.id,
            "endpoint": endpoint,
            "status": response.status_code,
            "code": code or "",
            "rows_changed": 0,
            "events_recorded": len(events),
        }
    )


def test_the_victim_still_works_after_every_attack(target):
    site = victim(target)
    assert target.page_with_query_token(site).status_code == 200
    token = context_token(client_key=site.client_key, secret=site.secret, account_id=ACCOUNT)
    response = target.get("/api/me", token)
    assert response.json() == {"clientKey": site.client_key, "accountId": ACCOUNT}
    # Nobody's secret replaced the victim's: one secret, the real one, current.
    db = target.running.db
    rows = db.rows(
        "SELECT s.fingerprint, s.retired_at FROM django_atlassian_connect_sharedsecret s "
        "JOIN django_atlassian_connect_tenant t ON t.id = s.tenant_id WHERE t.client_key = ?",
        (site.client_key,),
    )
    from tests.security.support import fingerprint

    assert rows == [(fingerprint(site.secret), None)]
    assert "Traceback" not in target.running.log()
