"""A replayed Forge Invocation Token is served but changes nothing.

The ``x-forge-oauth-system`` header is not covered by the FIT's signature,
and a FIT stays valid for about 55 s. One captured FIT plus a forged header
whose unsigned ``exp`` is far out used to replace the stored system token
and pin it: later genuine tokens (with an earlier ``exp``) were ignored, and
every call as the app went out with the forged token.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from django.core.cache import caches

from django_atlassian_connect.forge.installations import MAX_TOKEN_LIFETIME, stored_system_token
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.views_support import Received, event_headers, snapshot

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.django_db]


def forged_system_token(exp: float) -> str:
    """A token shaped like Forge's (a JWT), whose unsigned exp says what an attacker likes."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'exp': int(exp)})}.forged-signature"


def scheduled(client, forge_host, *, fit: str, system_token: str | None = None):
    headers = event_headers(forge_host, fit=fit, module_key="forge-token-refresh")
    if system_token is not None:
        headers["HTTP_X_FORGE_OAUTH_SYSTEM"] = system_token
    return client.post("/forge/scheduled", "{}", content_type="application/json", **headers)


def stored_row() -> ForgeInstallation:
    return ForgeInstallation.objects.get()


def test_a_replayed_fit_cannot_pin_a_forged_system_token(client, forge_host):
    fit = forge_host.mint_fit(kind="scheduled")
    assert scheduled(client, forge_host, fit=fit).status_code == 204
    genuine = forge_host.current_system_token()
    assert stored_system_token(stored_row()) == genuine
    before = snapshot()

    # The captured FIT again, with a forged token claiming to live 100 hours.
    forged = forged_system_token(time.time() + 100 * 3600)
    assert scheduled(client, forge_host, fit=fit, system_token=forged).status_code == 204
    assert snapshot() == before
    assert stored_system_token(stored_row()) == genuine

    # The next genuine invocation brings a new token, and it is the one used.
    forge_host.expire_system_token()
    assert forge_host.trigger_scheduled().status_code == 204
    newer = forge_host.current_system_token()
    assert newer != genuine
    assert stored_system_token(stored_row()) == newer


@pytest.mark.django_db(transaction=True)  # real commits: the signal is sent on commit
def test_a_replayed_fit_is_served_but_records_nothing_and_sends_no_signal(forge_client, forge_host):
    received = Received("forge_invoked")
    try:
        fit = forge_host.mint_fit(account_id=forge_client.account_id)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {fit}"}
        first = forge_client.django.get("/forge/me", **headers)
        assert first.status_code == 200
        assert first.json()["installationId"] == forge_host.installation().id
        before = snapshot()
        again = forge_client.django.get("/forge/me", **headers)
        # Served, for the installation the FIT names, and nothing changed.
        assert again.status_code == 200
        assert again.json()["installationId"] == forge_host.installation().id
        assert snapshot() == before
        assert len(received.of("forge_invoked")) == 1
    finally:
        received.disconnect()


def test_a_replay_for_an_installation_not_recorded_is_refused(client, forge_host):
    fit = forge_host.mint_fit(kind="scheduled")
    assert scheduled(client, forge_host, fit=fit).status_code == 204
    ForgeInstallation.objects.all().delete()
    response = scheduled(client, forge_host, fit=fit)
    assert response.status_code == 401
    assert response.json()["code"] == "token_replayed"
    assert ForgeInstallation.objects.count() == 0


def test_an_unsigned_exp_is_believed_only_within_the_fits_iat_plus_the_token_lifetime(
    client, forge_host
):
    iat = int(time.time()) - 20
    fit = forge_host.mint_fit(kind="scheduled", overrides={"iat": iat, "nbf": iat, "exp": iat + 25})
    forged = forged_system_token(time.time() + 100 * 3600)
    assert scheduled(client, forge_host, fit=fit, system_token=forged).status_code == 204
    expires = stored_row().system_token_expires_at
    vouched = datetime.fromtimestamp(iat, tz=UTC) + MAX_TOKEN_LIFETIME
    assert abs((expires - vouched).total_seconds()) < 1


def test_a_use_whose_recording_failed_can_be_retried(client, forge_host, monkeypatch):
    from django.db import DatabaseError

    from django_atlassian_connect.forge import events

    def broken(*args, **kwargs):
        raise DatabaseError("database is down")

    fit = forge_host.mint_fit(kind="scheduled")
    monkeypatch.setattr(events, "record_invocation", broken)
    assert scheduled(client, forge_host, fit=fit).status_code == 503
    monkeypatch.undo()
    # Forge's retry of the same delivery still records it.
    assert scheduled(client, forge_host, fit=fit).status_code == 204
    assert stored_system_token(stored_row()) == forge_host.current_system_token()


def test_an_unreachable_cache_counts_as_a_first_use(forge_host, monkeypatch, caplog):
    from django_atlassian_connect.forge import replays

    class Down:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr(replays, "caches", {"default": Down()})
    context = type("Ctx", (), {"jti": "j" * 40, "expires_at": time.time() + 25})()
    context.installation_id = forge_host.installation().id
    assert replays.claim_first_use(context, now=time.time()) is True
    assert "counted as a first use" in caplog.text
    assert caches  # the real caches are untouched
