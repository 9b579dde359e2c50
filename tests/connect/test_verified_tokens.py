"""Context tokens verified once per process: what a repeat skips and what it still checks."""

from __future__ import annotations

import time

import pytest
from rest_framework.request import Request

from django_atlassian_connect.authentication import ConnectContextJWTAuthentication
from django_atlassian_connect.connect import inbound, verified_tokens
from django_atlassian_connect.exceptions import ConnectAuthError
from tests.conftest import assert_accepted

pytestmark = pytest.mark.django_db


@pytest.fixture
def signature_checks(monkeypatch):
    """How many times a signature was computed (the work a repeat skips)."""
    calls = []
    real = inbound.verify_hs256_with_secrets

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(inbound, "verify_hs256_with_secrets", counting)
    return calls


def drf_authenticate(rf, token, path="/drf/context"):
    request = Request(rf.get(path, HTTP_AUTHORIZATION=f"JWT {token}"))
    return ConnectContextJWTAuthentication().authenticate(request)


def test_a_repeated_context_token_is_verified_once(installed_site, client, signature_checks):
    token = installed_site.context_token()
    for _ in range(3):
        answer = client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}")
        assert answer.status_code == 200, answer.content
        assert answer.json()["clientKey"] == installed_site.client_key
    assert len(signature_checks) == 1


def test_the_drf_class_shares_the_memo(installed_site, rf, signature_checks):
    token = installed_site.context_token(account_id="5b10-user-a")
    first_user, first = drf_authenticate(rf, token)
    second_user, second = drf_authenticate(rf, token)
    assert len(signature_checks) == 1
    assert second_user.account_id == first_user.account_id == "5b10-user-a"
    assert second.secret_fingerprint == first.secret_fingerprint
    assert second.context_token


def test_page_tokens_are_verified_every_time(installed_site, client, signature_checks):
    token = installed_site.page_token("/page")
    for _ in range(2):
        assert_accepted(client.get("/page", {"jwt": token}), installed_site)
    assert len(signature_checks) == 2
    assert verified_tokens.lookup(token) is None


def test_a_forged_token_is_never_remembered(installed_site, client):
    forged = installed_site.context_token(secret="not-the-secret-" + "x" * 30)
    for _ in range(2):
        answer = client.get("/context", HTTP_AUTHORIZATION=f"JWT {forged}")
        assert answer.json()["code"] == "signature_invalid"
    assert verified_tokens.lookup(forged) is None


def test_a_remembered_token_still_expires(installed_site, rf, monkeypatch):
    issued = time.time()
    token = installed_site.context_token(now=issued, lifetime=60)
    drf_authenticate(rf, token)
    assert verified_tokens.lookup(token) is not None
    later = issued + 60 + 31  # past exp and the 30 s leeway
    monkeypatch.setattr("django_atlassian_connect.tokens.checks.time.time", lambda: later)
    with pytest.raises(ConnectAuthError) as refused:
        inbound.verify_request(rf.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), context=True)
    assert refused.value.code == "token_expired"


def test_uninstall_refuses_a_remembered_token(installed_site, client):
    token = installed_site.context_token()
    assert_accepted(client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site)
    assert installed_site.uninstall().status_code == 204
    answer = client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}")
    assert answer.status_code == 401
    assert answer.json()["code"] == "tenant_uninstalled"


def test_disable_refuses_a_remembered_token(installed_site, client):
    token = installed_site.context_token()
    assert_accepted(client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site)
    assert installed_site.hs_callback("disabled").status_code == 204
    answer = client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}")
    assert answer.json()["code"] == "tenant_disabled"


def test_a_new_secret_is_verified_again(installed_site, client, settings, signature_checks):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "SECRET_GRACE_PERIOD": 0}
    token = installed_site.context_token()  # signed with the first secret
    assert_accepted(client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site)
    assert installed_site.install(secret="rotated-" + "r" * 40).status_code == 204
    answer = client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}")
    # The new snapshot is a miss: verified in full, against the new secret only.
    assert answer.json()["code"] in {"signature_invalid", "secret_retired"}
    assert len(signature_checks) == 2


def test_claims_edited_by_one_view_do_not_reach_the_next(installed_site, rf):
    token = installed_site.context_token()
    _user, first = drf_authenticate(rf, token)
    first.claims["sub"] = "someone-else"
    first.claims["context"]["jira"] = {"issue": {"key": "EDITED-1"}}
    _user, second = drf_authenticate(rf, token)
    first.claims["context"]["jira"] = {"issue": {"key": "EDITED-2"}}
    _user, third = drf_authenticate(rf, token)
    assert second.claims["sub"] == third.claims["sub"] == "5b10ac8d82e05b22cc7d4ef5"
    assert second.context == third.context == {}


def test_size_zero_turns_it_off(installed_site, client, settings, signature_checks):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "VERIFIED_TOKEN_CACHE_SIZE": 0}
    token = installed_site.context_token()
    for _ in range(2):
        assert_accepted(client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site)
    assert len(signature_checks) == 2


def test_the_memo_is_bounded_oldest_out(installed_site, rf, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "VERIFIED_TOKEN_CACHE_SIZE": 2}
    tokens = [installed_site.context_token(account_id=f"user-{n}") for n in range(3)]
    for token in tokens:
        drf_authenticate(rf, token)
    assert verified_tokens.lookup(tokens[0]) is None
    assert verified_tokens.lookup(tokens[1]) is not None
    assert verified_tokens.lookup(tokens[2]) is not None


def test_a_view_editing_exp_does_not_extend_the_memo(installed_site, rf, monkeypatch):
    issued = time.time()
    token = installed_site.context_token(now=issued, lifetime=60)
    _user, first = drf_authenticate(rf, token)
    first.claims["exp"] = issued + 10**6
    later = issued + 60 + 31
    monkeypatch.setattr("django_atlassian_connect.tokens.checks.time.time", lambda: later)
    with pytest.raises(ConnectAuthError) as refused:
        inbound.verify_request(rf.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), context=True)
    assert refused.value.code == "token_expired"
