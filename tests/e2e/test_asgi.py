"""The example project under an ASGI server (uvicorn): async Connect views."""

from __future__ import annotations

import pytest
import requests

from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import start_example_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def asgi_app(tmp_path_factory):
    host = ConnectHost().start()
    app = start_example_app(
        tmp_path_factory.mktemp("asgi"),
        host.keys_url,
        extra_env={
            "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
            "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        },
        server="uvicorn",
    )
    try:
        host.install(app.base_url + "/atlassian-connect.json")  # a sync lifecycle view, via ASGI
        yield host, app
    finally:
        app.process.terminate()
        app.process.wait(timeout=10)
        host.stop()


def test_async_view_with_a_context_token_under_uvicorn(asgi_app):
    host, app = asgi_app
    account = next(iter(host.accounts))
    token = host.context_token(account_id=account)
    response = requests.get(
        f"{app.base_url}/api/me-async", headers={"Authorization": f"JWT {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"clientKey": host.client_key, "accountId": account}


def test_async_view_refusals_under_uvicorn(asgi_app):
    host, app = asgi_app
    page_token = host.request_token("GET", "/api/me-async", account_id=next(iter(host.accounts)))
    response = requests.get(f"{app.base_url}/api/me-async", params={"jwt": page_token}, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "context_qsh_required"
    response = requests.get(f"{app.base_url}/api/me-async", timeout=10)
    assert (response.status_code, response.json()["code"]) == (401, "token_missing")
    assert "Traceback" not in app.log()


def test_drf_view_without_a_token_says_token_missing(asgi_app):
    _host, app = asgi_app
    response = requests.get(f"{app.base_url}/api/me", timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "token_missing" and body["hint"]
