"""The attack suite: the example project over real HTTP, one attack per test.

Every attack asserts the refusal (HTTP status and ``code``) *and* that no row
of the app's tables changed: tenants, shared secrets (fingerprints, ciphertext,
``retired_at``), access tokens and the demo's webhook log, read directly from
the example project's database. The only rows an attack may add are refused
``LifecycleEvent`` records. No attack may get a 500.

``CONNECT_ATTACK_REPORT=path.json`` writes the results (for docs/security.rst).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from django_atlassian_connect.testing import InstallKeyPair, InstallKeyServer, context_token
from tests.security.attack_target import ACCOUNT, APP_KEY, WEBHOOK, Target, b64, new_site
from tests.security.attacks import (
    _DROP,
    NOW,
    Attack,
    alg_confusion,
    alg_none,
    api_me_with_other_tenants_secret,
    api_me_with_page_token,
    disabled_tenant_page,
    disabled_token_of_a_body_of_b,
    disabled_with_context_qsh,
    enabled_wrong_secret,
    exact_replay,
    forged_known_kid,
    host_not_allowed,
    install_body_unstorable_client_key,
    install_claims,
    install_product_type_too_long,
    install_token_on_page,
    kid,
    lifecycle_body_1mb,
    lifecycle_duplicate_tokens,
    lifecycle_malformed,
    lifecycle_token_1mb_form,
    lifecycle_token_1mb_header,
    lifecycle_token_60kb,
    other_app_key,
    page,
    page_duplicate_tokens,
    page_hs256,
    page_token_1mb_header,
    page_token_1mb_query,
    replay_after_uninstall,
    token_of_a_body_of_b,
    uninstall_with_hs256,
    uninstalled_tenant_page,
    unknown_key,
    unsigned_install,
    unsigned_uninstall,
    unstorable_issuer,
    victim,
    webhook,
    webhook_body_3mb,
    webhook_form_token_1mb,
)

pytestmark = [pytest.mark.e2e, pytest.mark.security]


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
