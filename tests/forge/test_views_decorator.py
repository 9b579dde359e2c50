"""Forge Remote entry points through @forge_invocation_required, sync and async."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from django_atlassian_connect.models import ForgeInstallation
from tests.forge.forge_urls import plain, plain_async, stacked_inside, stacked_outside
from tests.forge.views_support import assert_bearer_refusal

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.usefixtures("_fresh_jwks")]


# -- the decorator -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_sets_request_forge(forge_client, forge_host, url):
    body = forge_client.get(url).json()
    assert body["installationId"] == body["row"] == forge_host.installation().id
    assert body["accountId"] == forge_client.account_id
    assert body.get("is_async", False) is (url == "/forge/async")


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_refusals_write_nothing(client, forge_client, forge_host, url):
    expired = forge_host.mint_fit(overrides={"exp": 1, "iat": 0, "nbf": 0})
    assert_bearer_refusal(forge_client.get(url, fit=expired), "token_expired")
    assert_bearer_refusal(client.get(url), "token_missing")
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_key_unavailable(forge_client, forge_host, url):
    cache.clear()
    forge_host.jwks.fault = "down"
    try:
        response = forge_client.get(url)
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_decorator_is_csrf_exempt(forge_host, forge_client):
    strict = Client(enforce_csrf_checks=True)
    forge_client.django = strict
    assert forge_client.post("/forge/plain", json={}).json()["method"] == "POST"


@pytest.mark.parametrize("view", [plain, plain_async, stacked_outside, stacked_inside])
def test_decorated_views_declare_forge_however_stacked(view):
    assert view.connect_token_kind == "forge"
    assert view.csrf_exempt is True


def test_stacked_decorators_both_work(forge_client):
    for url in ("/forge/stacked-outside", "/forge/stacked-inside"):
        response = forge_client.get(url)
        assert response.status_code == 200
        assert response.json()["accountId"] == forge_client.account_id
        assert response.json()["installationId"] == forge_client.installation.id
        assert forge_client.post(url).status_code == 405


def test_forge_invoked_is_sent_after_commit(forge_client, forge_host, received, committed):
    forge_client.get("/forge/plain")
    forge_client.as_app().get("/forge/me")
    assert received.names() == ["forge_invoked", "forge_invoked"]
    first, second = received.of("forge_invoked")
    assert first["sender"] is ForgeInstallation
    assert first["installation"].installation_id == forge_host.installation().id
    assert first["context"].principal == forge_client.account_id
    assert second["context"].principal is None
    assert first["request"].path == "/forge/plain"
