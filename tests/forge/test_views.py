"""Forge Remote entry points through DRF: ForgeInvocationAuthentication and the principal.

Real FITs from the simulated Forge platform (``forge_host``, ``forge_client``)
through Django's test client. Every refusal is checked to write nothing.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.http import HttpRequest

from django_atlassian_connect.authentication import ForgeInvocationAuthentication
from django_atlassian_connect.forge.installations import stored_system_token
from django_atlassian_connect.forge.principal import ForgePrincipal
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.views_support import assert_bearer_refusal, snapshot

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.usefixtures("_fresh_jwks")]


# -- the user's three lines ----------------------------------------------------------------------


def test_me(forge_client):
    response = forge_client.get("/forge/me")
    assert response.json()["accountId"] == forge_client.account_id


# -- DRF -----------------------------------------------------------------------------------------


def test_drf_sets_the_principal_and_the_context(forge_client, forge_host):
    body = forge_client.get("/forge/me").json()
    installation = forge_host.installation()
    assert body == {
        "installationId": installation.id,
        "cloudId": installation.cloud_id,
        "accountId": forge_client.account_id,
        "isApp": False,
        "clientKey": None,
        "environmentType": "PRODUCTION",
        "sameInstallation": True,
    }
    row = ForgeInstallation.objects.get(installation_id=installation.id)
    assert row.cloud_id == installation.cloud_id
    assert stored_system_token(row) == forge_host.current_system_token()


@pytest.mark.parametrize("connect_first", [True, False], ids=["connect-first", "forge-first"])
def test_me_names_the_connect_tenant_of_a_signed_install(
    forge_client, forge_host, site, connect_first
):
    installation_id = forge_host.installation().id
    if not connect_first:
        assert forge_client.get("/forge/me").json()["clientKey"] is None
    assert site.install(installationId=installation_id).status_code == 204
    assert forge_client.get("/forge/me").json()["clientKey"] == site.client_key


def test_drf_without_a_user_is_the_app(forge_client):
    body = forge_client.as_app().get("/forge/me").json()
    assert body["accountId"] is None and body["isApp"] is True


def test_drf_post_reads_the_body(forge_client):
    response = forge_client.post("/forge/me", json={"x": 1})
    assert response.json() == {"data": {"x": 1}, "accountId": forge_client.account_id}


def test_drf_without_a_token_is_token_missing(client, forge_host, db):
    response = client.get("/forge/me")
    assert_bearer_refusal(response, "token_missing")
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer", "token_malformed"),
        ("Bearer a.b", "token_malformed"),
        ("bearer  two  spaces", "token_malformed"),
    ],
)
def test_drf_a_broken_bearer_is_ours_and_refused(client, forge_host, db, header, code):
    response = client.get("/forge/me", HTTP_AUTHORIZATION=header)
    assert_bearer_refusal(response, code)
    assert ForgeInstallation.objects.count() == 0


def test_drf_refusals_write_nothing(forge_client, forge_host):
    forge_client.get("/forge/me")  # a row exists, with a token
    before = snapshot()
    assert len(before) == 1
    expired = forge_host.mint_fit(overrides={"exp": 1, "iat": 0, "nbf": 0})
    other_app = forge_host.mint_fit(overrides={"aud": "ari:cloud:ecosystem::app/" + "0" * 36})
    for fit, code in ((expired, "token_expired"), (other_app, "audience_invalid")):
        response = forge_client.get("/forge/me", fit=fit)
        assert_bearer_refusal(response, code)
    assert snapshot() == before


def test_drf_key_unavailable_is_503_with_retry_after_and_writes_nothing(forge_client, forge_host):
    cache.clear()
    forge_host.jwks.fault = "down"
    try:
        response = forge_client.get("/forge/me")
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_drf_leaves_other_schemes_to_other_classes(client, forge_client, db):
    # A Connect JWT header is not the Forge class's: it returns None, the Connect one refuses.
    response = client.get("/forge/either", HTTP_AUTHORIZATION="JWT not-a-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("JWT realm=")
    # A FIT is not the Connect class's: the Forge class authenticates it.
    body = forge_client.get("/forge/either").json()
    assert body["user"].startswith(f"<ForgePrincipal '{forge_client.account_id}' of ")


def test_drf_class_declares_forge():
    assert ForgeInvocationAuthentication.connect_token_kind == "forge"
    assert ForgeInvocationAuthentication().get_raw_token(HttpRequest()) is None


# -- the principal -------------------------------------------------------------------------------


def test_forge_principal_is_safe_to_show(forge_client, forge_host):
    forge_client.get("/forge/me")
    row = ForgeInstallation.objects.get()
    user = ForgePrincipal("557058:abc", row)
    app = ForgePrincipal(None, row)
    assert user.is_authenticated and not user.is_app and not user.is_anonymous
    assert app.is_authenticated and app.is_app and app.account_id is None
    assert str(app) == f"app@{row.installation_id}"
    token = forge_host.current_system_token()
    for text in (repr(user), repr(app), str(user), str(app)):
        assert token not in text
    assert repr(app) == f"<ForgePrincipal app of {row.installation_id!r}>"
    assert user == ForgePrincipal("557058:abc", row) and user != app
    assert len({user, ForgePrincipal("557058:abc", row)}) == 1
