"""POST /forge/scheduled: a scheduled trigger stores the app system token."""

from __future__ import annotations

import pytest

from django_atlassian_connect.forge.installations import stored_system_token
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.views_support import assert_bearer_refusal, event_headers

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.usefixtures("_fresh_jwks")]


# -- POST /forge/scheduled -----------------------------------------------------------------------


def test_scheduled_trigger_stores_the_system_token(forge_host, db, received, committed):
    response = forge_host.trigger_scheduled()
    assert response.status_code == 204
    sent = forge_host.sent[-1]
    assert "x-forge-oauth-system" in sent["headers"]
    assert "x-forge-oauth-user" not in sent["headers"]
    row = ForgeInstallation.objects.get(installation_id=forge_host.installation().id)
    assert stored_system_token(row) == forge_host.current_system_token()
    (invoked,) = received.of("forge_invoked")
    assert invoked["context"].user_token is None and invoked["context"].principal is None
    assert received.of("forge_installed") == []


def test_scheduled_trigger_keeps_the_newer_token(forge_host, db):
    assert forge_host.trigger_scheduled().status_code == 204
    first = forge_host.current_system_token()
    forge_host.expire_system_token()  # the platform hands out a new one next time
    assert forge_host.trigger_scheduled().status_code == 204
    second = forge_host.current_system_token()
    assert second != first
    row = ForgeInstallation.objects.get()
    assert stored_system_token(row) == second


def test_scheduled_refusals_write_nothing(client, forge_host, db):
    expired = forge_host.mint_fit(kind="scheduled", overrides={"exp": 1, "iat": 0, "nbf": 0})
    response = client.post(
        "/forge/scheduled",
        "{}",
        content_type="application/json",
        **event_headers(forge_host, fit=expired),
    )
    assert_bearer_refusal(response, "token_expired")
    assert ForgeInstallation.objects.count() == 0
