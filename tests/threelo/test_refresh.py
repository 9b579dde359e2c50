"""Refreshing OAuth 2.0 (3LO) grants: by expiry only, once across threads, the rotated
refresh token committed before the new access token is used, invalid_grant -> revoked."""

from __future__ import annotations

import pickle
import threading
from datetime import timedelta

import pytest
import requests
from django.db import close_old_connections, connection
from django.utils import timezone

from django_atlassian_connect import signals
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.models import OAuthGrant
from django_atlassian_connect.testing.oauth.state import fingerprint
from django_atlassian_connect.threelo import grants, linking, tokens
from django_atlassian_connect.threelo.client import OAuthClient
from tests.threelo.gateway_support import MYSELF, myself_tokens

pytestmark = pytest.mark.django_db


def expire_ours(grant, seconds_left=-1):
    """Our record says the access token has ``seconds_left`` (the server is not told)."""
    OAuthGrant.objects.filter(pk=grant.pk).update(
        access_expires_at=timezone.now() + timedelta(seconds=seconds_left)
    )
    grant.refresh_from_db()


def refreshes(server):
    return server.counters["refresh_requests"]


@pytest.fixture
def revocations():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    signals.oauth_grant_revoked.connect(receiver)
    yield received
    signals.oauth_grant_revoked.disconnect(receiver)


# -- by expiry, once ---------------------------------------------------------------------------------


def test_a_fresh_token_is_used_without_a_refresh(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    body = OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF).json()
    assert body["displayName"] == "Alana Grant" and body["accountId"] == grant.account_id
    assert refreshes(oauth_server) == 0
    assert myself_tokens(oauth_server) == [grant.access_token_fingerprint.split(":")[1]]


def test_a_token_within_the_margin_is_refreshed_once_and_rotated(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    old_access, old_refresh = grant.access_token, grant.refresh_token
    issued_before = grant.refresh_token_issued_at
    expire_ours(grant, seconds_left=299)  # OAUTH_REFRESH_MARGIN is 300
    session = OAuthClient(grant, linked_user.cloud_id).session()
    assert session.get(MYSELF).ok and session.get(MYSELF).ok
    assert refreshes(oauth_server) == 1
    stored = OAuthGrant.objects.get(pk=grant.pk)
    assert stored.access_token != old_access and stored.refresh_token != old_refresh
    assert stored.refresh_token == grant.refresh_token  # the object in hand was updated too
    assert stored.refresh_token_issued_at > issued_before
    assert (stored.access_expires_at - timezone.now()).total_seconds() > 3500
    old = oauth_server.state.tokens[old_refresh]
    assert old.rotated_at is not None  # the previous refresh token was rotated out
    assert myself_tokens(oauth_server) == [fingerprint(stored.access_token)] * 2


def test_the_margin_setting_takes_effect(linked_user, oauth_server, settings):
    grant = linked_user.oauth_grant
    expire_ours(grant, seconds_left=1000)
    assert OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF).ok
    assert refreshes(oauth_server) == 0
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "OAUTH_REFRESH_MARGIN": 1200}
    assert OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF).ok
    assert refreshes(oauth_server) == 1


def test_a_401_alone_does_not_refresh(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    oauth_server.expire_access_tokens()  # the gateway refuses it; our record says it is fresh
    with pytest.raises(ConnectAPIError) as info:
        OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF)
    error = info.value
    assert (error.code, error.status_code) == ("api_unauthorized", 401)
    assert "does not trigger a refresh" in error.hint and error.grant == grant
    assert error.cloud_id == linked_user.cloud_id
    assert refreshes(oauth_server) == 0
    assert grant.access_token not in str(error) + repr(error) + error.hint


def test_a_stale_copy_reads_the_row_again_inside_the_lock(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    expire_ours(grant)
    stale = OAuthGrant.objects.get(pk=grant.pk)
    grants.refresh(grant)  # another caller refreshed first
    assert refreshes(oauth_server) == 1
    grants.refresh(stale)  # holds the old tokens, but the stored ones are fresh now
    assert refreshes(oauth_server) == 1
    assert stale.access_token == grant.access_token and stale.refresh_token == grant.refresh_token


def test_force_refreshes_unless_another_process_just_did(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    stale = OAuthGrant.objects.get(pk=grant.pk)
    grants.refresh(grant, force=True)
    assert refreshes(oauth_server) == 1
    grants.refresh(stale, force=True)  # rotated meanwhile: nothing to do
    assert refreshes(oauth_server) == 1
    grants.refresh(stale, force=True)
    assert refreshes(oauth_server) == 2


def test_last_used_is_written_at_most_once_a_minute(
    linked_user, oauth_server, django_assert_num_queries
):
    grant = linked_user.oauth_grant
    OAuthGrant.objects.filter(pk=grant.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    grant.refresh_from_db()
    with django_assert_num_queries(1):
        grants.access_token(grant)
    with django_assert_num_queries(0):
        grants.access_token(grant)


# -- across threads (separate connections, committed data) -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_threads_with_an_expired_token_make_one_refresh(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    expire_ours(grant)
    oauth_server.expire_access_tokens()
    copies = [OAuthGrant.objects.get(pk=grant.pk) for _ in range(8)]  # each holds the old token
    barrier = threading.Barrier(8)
    results, errors = [], []

    def call(copy):
        try:
            session = OAuthClient(copy, linked_user.cloud_id).session()
            barrier.wait(timeout=30)
            results.append(session.get(MYSELF).json()["accountId"])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=call, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert results == [grant.account_id] * 8
    assert refreshes(oauth_server) == 1
    assert oauth_server.counters["reused_in_window"] == 0
    assert oauth_server.counters["reused_after_window"] == 0
    stored = OAuthGrant.objects.get(pk=grant.pk)
    assert set(myself_tokens(oauth_server)) == {fingerprint(stored.access_token)}


@pytest.mark.django_db(transaction=True)
def test_the_new_refresh_token_is_committed_before_the_new_access_token_is_used(
    linked_user, oauth_server, monkeypatch
):
    grant = linked_user.oauth_grant
    expire_ours(grant)
    seen = []
    respond = oauth_server.api._respond

    def spy(request, token):
        if request.path.endswith("/myself"):
            # The gateway's thread has its own connection: it sees committed rows only.
            seen.append(OAuthGrant.objects.get(pk=grant.pk).refresh_token_fingerprint)
            connection.close()
        return respond(request, token)

    monkeypatch.setattr(oauth_server.api, "_respond", spy)
    assert OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF).ok
    issued = oauth_server.state.token_log[-1]["refresh_token_issued"]
    assert seen == ["sha256:" + issued]


# -- invalid_grant, expiry, failures -----------------------------------------------------------------


def test_invalid_grant_revokes_the_grant_and_signals_once(
    linked_user, oauth_server, revocations, django_capture_on_commit_callbacks
):
    grant = linked_user.oauth_grant
    oauth_server.revoke()  # the user removed the app from their Atlassian account
    expire_ours(grant)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ConnectClientError) as info:
            OAuthClient(grant, linked_user.cloud_id).session().get(MYSELF)
    assert info.value.code == "oauth_grant_revoked" and "invalid_grant" in info.value.detail
    stored = OAuthGrant.objects.get(pk=grant.pk)
    assert stored.status == "revoked" and stored.access_token is None
    assert stored.refresh_token is None and "invalid_grant" in stored.last_error
    assert [(r["status"], r["user"], r["grant"].pk) for r in revocations] == [
        ("revoked", linked_user, grant.pk)
    ]
    calls = refreshes(oauth_server)
    with pytest.raises(ConnectClientError) as again:
        OAuthClient(stored, linked_user.cloud_id).session()  # nothing sent, no refresh tried
    assert again.value.code == "oauth_grant_revoked" and refreshes(oauth_server) == calls
    with pytest.raises(ConnectClientError) as later:
        OAuthClient.for_user(linked_user, linked_user.cloud_id)
    assert later.value.code == "oauth_grant_revoked"
    assert len(revocations) == 1


def test_a_rotated_token_reused_after_10_minutes_revokes_the_whole_grant(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    leaked = str(grant.refresh_token)
    grants.refresh(grant, force=True)  # rotates: `leaked` is now the previous one
    oauth_server.advance(601)
    with pytest.raises(ConnectClientError) as info:
        tokens.refresh_tokens(leaked)  # e.g. a process that kept its own copy
    assert info.value.context["oauth_error"] == "invalid_grant"
    assert oauth_server.counters["reused_after_window"] == 1
    with pytest.raises(ConnectClientError) as ours:
        grants.refresh(grant, force=True)  # the current token died with its family
    assert ours.value.code == "oauth_grant_revoked"


def test_a_failing_authorization_server_keeps_the_grant(linked_user, oauth_server, settings):
    grant = linked_user.oauth_grant
    expire_ours(grant)
    oauth_server.state.client_secret = "changed-in-the-console"
    with pytest.raises(ConnectClientError) as info:
        grants.access_token(grant)
    assert info.value.code == "oauth_token_failed" and info.value.status == 401
    assert oauth_server.client_secret not in str(info.value) + repr(info.value)
    stored = OAuthGrant.objects.get(pk=grant.pk)
    assert stored.status == "active" and stored.refresh_token == grant.refresh_token
    assert "401" in stored.last_error
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_AUTH_URL": "http://127.0.0.1:9",
    }
    with pytest.raises(ConnectClientError) as unreachable:
        grants.access_token(grant)
    assert unreachable.value.code == "oauth_token_failed"
    assert "ConnectionError" in unreachable.value.detail
    assert OAuthGrant.objects.get(pk=grant.pk).status == "active"


def test_without_offline_access_the_grant_ends_with_its_access_token(
    oauth_server, revocations, django_capture_on_commit_callbacks, django_user_model
):
    user = django_user_model.objects.create_user(username="noah", password="noah-pw-1")
    code = oauth_server.issue_code(tokens.callback_url(), scopes=["read:me", "read:jira-user"])
    grant = linking.link_account(user, code)
    assert grant.refresh_token is None and grant.refresh_token_issued_at is None
    cloud_id = grant.sites.get().cloud_id
    expire_ours(grant, seconds_left=100)  # within the margin, but still valid: used
    assert OAuthClient(grant, cloud_id).session().get(MYSELF).ok
    expire_ours(grant)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ConnectClientError) as info:
            OAuthClient(grant, cloud_id).session().get(MYSELF)
    assert info.value.code == "oauth_grant_expired" and "offline_access" in info.value.detail
    assert [r["status"] for r in revocations] == ["expired"]
    assert refreshes(oauth_server) == 0


def test_a_refresh_token_unused_for_90_days_expires_without_a_request(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    OAuthGrant.objects.filter(pk=grant.pk).update(
        refresh_token_issued_at=timezone.now() - timedelta(days=91),
        access_expires_at=timezone.now() - timedelta(days=90),
    )
    grant.refresh_from_db()
    with pytest.raises(ConnectClientError) as info:
        grants.access_token(grant)
    assert info.value.code == "oauth_grant_expired" and "90 days" in info.value.detail
    assert refreshes(oauth_server) == 0


# -- one token-endpoint rule (http.token_endpoint) -----------------------------------------------

SECRET = "threelo-client-secret-0123456789"


@pytest.fixture
def auth_at(settings):
    def point(url):
        settings.ATLASSIAN_CONNECT = {
            **settings.ATLASSIAN_CONNECT,
            "OAUTH_CLIENT_ID": "cid",
            "OAUTH_CLIENT_SECRET": SECRET,
            "OAUTH_AUTH_URL": url,
        }

    return point


def test_a_network_failure_chains_nothing_holding_the_secret(auth_at):
    auth_at("http://127.0.0.1:9")  # nothing listens: requests' exception carries the body
    with pytest.raises(ConnectClientError) as info:
        tokens.refresh_tokens("refresh-token-never-shown")
    error = info.value
    assert error.__context__ is None  # `from None` still kept it here
    assert error.code == "oauth_token_failed" and "ConnectionError" in error.detail
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert error.__cause__.request is None and error.__cause__.__context__ is None
    shown = pickle.dumps(error) + repr(error.__cause__).encode()
    assert SECRET.encode() not in shown and b"refresh-token-never-shown" not in shown


def test_a_missing_expires_in_is_900_seconds(auth_at, rsps):
    auth_at("https://auth.example")
    rsps.post("https://auth.example/oauth/token", json={"access_token": "at", "refresh_token": "r"})
    assert tokens.refresh_tokens("r0").expires_in == 900


@pytest.mark.parametrize("raw", ["0", "true", '"3600"', "NaN", "null"])
def test_a_present_but_invalid_expires_in_is_an_error(auth_at, rsps, raw):
    auth_at("https://auth.example")
    rsps.post(
        "https://auth.example/oauth/token",
        body='{"access_token": "at", "expires_in": ' + raw + "}",
    )
    with pytest.raises(ConnectClientError) as info:
        tokens.refresh_tokens("r0")
    assert info.value.code == "oauth_token_failed" and "expires_in" in info.value.detail
