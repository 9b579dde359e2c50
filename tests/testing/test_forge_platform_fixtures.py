"""The pytest fixtures of the simulated Forge platform: forge_client and forge_host."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
import requests
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

# -- the pytest fixtures -------------------------------------------------------


def _unverified(request: HttpRequest) -> dict[str, Any]:
    # Deliberately NOT verified: these views only prove what the fixtures send.
    token = request.headers["Authorization"].split(" ", 1)[1]
    return jwt.decode(token, options={"verify_signature": False})


def probe(request: HttpRequest) -> JsonResponse:
    claims = _unverified(request)
    return JsonResponse(
        {
            "accountId": claims.get("principal"),
            "installationId": claims["app"]["installationId"],
            "system": request.headers.get("x-forge-oauth-system"),
            "user": request.headers.get("x-forge-oauth-user"),
            "trace": request.headers.get("x-b3-traceid"),
            "method": request.method,
            "body": json.loads(request.body or b"null"),
        }
    )


#: The installation each ``lifecycle`` delivery's token names, in order.
DELIVERED_FOR: list[str] = []


@csrf_exempt
def lifecycle(request: HttpRequest) -> HttpResponse:
    claims = _unverified(request)
    assert claims["app"]["module"]["type"] == "core:endpoint"
    DELIVERED_FOR.append(claims["app"]["installationId"])
    return HttpResponse(status=204)


urlpatterns = [path("forge/probe", probe), path("forge/lifecycle", csrf_exempt(lifecycle))]


@pytest.mark.urls(__name__)
def test_forge_client_invokes_as_the_user(forge_client):
    response = forge_client.get("/forge/probe")
    assert response.json()["accountId"] == forge_client.account_id


@pytest.mark.urls(__name__)
def test_forge_client_sends_the_tokens(forge_client, forge_host):
    body = forge_client.post("/forge/probe", json={"x": 1}).json()
    assert body["method"] == "POST" and body["body"] == {"x": 1}
    assert body["installationId"] == forge_host.installation().id
    assert body["system"] == forge_host.current_system_token()
    assert forge_host.issued[body["user"]].account_id == forge_client.account_id
    assert body["trace"]

    as_app = forge_client.as_app().put("/forge/probe").json()
    assert as_app["accountId"] is None and as_app["user"] is None
    assert as_app["system"] == body["system"]


def test_forge_host_configures_the_library(forge_host, settings):
    conf = settings.ATLASSIAN_CONNECT
    assert conf["FORGE_APP_ID"] == forge_host.app_id
    assert conf["FORGE_JWKS_URL"] == forge_host.jwks_url
    assert conf["FORGE_API_HOSTS"] == ["127.0.0.1"]
    assert conf["APP_KEY"] == forge_host.connect_key
    assert len(forge_host.installations) == len(forge_host.accounts) == 1
    assert requests.get(forge_host.jwks_url, timeout=5).json()["keys"]


@pytest.mark.urls(__name__)
def test_forge_host_delivers_events_through_the_test_client(forge_host):
    DELIVERED_FOR.clear()
    (attempt,) = forge_host.deliver_lifecycle()
    assert attempt.status == 204
    assert DELIVERED_FOR == [forge_host.installation().id]
