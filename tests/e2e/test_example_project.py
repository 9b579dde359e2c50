"""The example project over real HTTP: signed install, iframe page, context API, webhook."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from django_atlassian_connect.testing import context_token, install_token, request_token

pytestmark = pytest.mark.e2e

APP_KEY = "com.example.django-connect-demo"
ACCOUNT = "557058:f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"


@pytest.fixture(scope="module")
def tenant(example_app, e2e_install_key):
    """Install the example app with a signed install, over HTTP."""
    descriptor = requests.get(f"{example_app.base_url}/atlassian-connect.json", timeout=10).json()
    assert descriptor["key"] == APP_KEY
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert descriptor["lifecycle"]["installed"] == "/installed"
    site = {
        "clientKey": f"jira:{uuid.uuid4()}",
        "sharedSecret": "ATCO" + uuid.uuid4().hex * 2,
        "baseUrl": "https://e2e-site.atlassian.net",
    }
    body = {
        "key": APP_KEY,
        "productType": "jira",
        "eventType": "installed",
        "oauthClientId": "oc-1",
        **site,
    }
    token = install_token(
        e2e_install_key, client_key=site["clientKey"], app_base_url=example_app.base_url
    )
    response = requests.post(
        f"{example_app.base_url}{descriptor['lifecycle']['installed']}",
        json=body,
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert response.status_code == 204, response.text
    return site


def page_token(app, tenant, url, **kwargs):
    return request_token(
        client_key=tenant["clientKey"],
        secret=kwargs.pop("secret", tenant["sharedSecret"]),
        method=kwargs.pop("method", "GET"),
        url=url,
        app_base_url=app.base_url,
        account_id=ACCOUNT,
        **kwargs,
    )


def test_unsigned_install_is_refused(example_app, tenant):
    body = {
        "key": APP_KEY,
        "clientKey": tenant["clientKey"],
        "sharedSecret": "hijack",
        "baseUrl": tenant["baseUrl"],
    }
    response = requests.post(f"{example_app.base_url}/installed", json=body, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"
    # The real secret still works.
    url = "/hello?xdm_e=https%3A%2F%2Fe2e-site.atlassian.net&cp="
    token = page_token(example_app, tenant, url)
    assert requests.get(f"{example_app.base_url}{url}&jwt={token}", timeout=10).status_code == 200


def test_hello_page_with_iframe_token(example_app, tenant):
    url = "/hello?xdm_e=https%3A%2F%2Fe2e-site.atlassian.net&xdm_c=channel-hello&cp=&lic=none&tz=Europe%2FParis&loc=en-US"
    token = page_token(example_app, tenant, url)
    response = requests.get(f"{example_app.base_url}{url}&jwt={token}", timeout=10)
    assert response.status_code == 200, response.text
    assert tenant["clientKey"] in response.text and ACCOUNT in response.text
    assert (
        response.headers["Content-Security-Policy"]
        == "frame-ancestors https://e2e-site.atlassian.net"
    )
    assert "X-Frame-Options" not in response.headers


@pytest.mark.parametrize(
    "make_token,code",
    [
        (lambda app, t: page_token(app, t, "/hello", now=time.time() - 3600), "token_expired"),
        (
            lambda app, t: page_token(app, t, "/hello", secret="wrong-secret-" + "x" * 30),
            "signature_invalid",
        ),
        (lambda app, t: page_token(app, t, "/somewhere-else"), "qsh_mismatch"),
        (
            lambda app, t: context_token(client_key=t["clientKey"], secret=t["sharedSecret"]),
            "context_qsh_not_allowed",
        ),
        (
            lambda app, t: request_token(
                client_key="jira:unknown", secret="s" * 40, method="GET", url="/hello"
            ),
            "tenant_unknown",
        ),
        (lambda app, t: "not-a-token", "token_malformed"),
    ],
)
def test_hello_page_refuses_bad_tokens(example_app, tenant, make_token, code):
    token = make_token(example_app, tenant)
    response = requests.get(f"{example_app.base_url}/hello", params={"jwt": token}, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["WWW-Authenticate"].startswith(f'JWT realm="{APP_KEY}"')


def test_hello_without_token(example_app, tenant):
    response = requests.get(f"{example_app.base_url}/hello", timeout=10)
    assert response.status_code == 401 and response.json()["code"] == "token_missing"


def test_api_me_with_context_token(example_app, tenant):
    token = context_token(
        client_key=tenant["clientKey"], secret=tenant["sharedSecret"], account_id=ACCOUNT
    )
    response = requests.get(
        f"{example_app.base_url}/api/me", headers={"Authorization": f"JWT {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"clientKey": tenant["clientKey"], "accountId": ACCOUNT}


def test_api_me_refuses_page_tokens(example_app, tenant):
    token = page_token(example_app, tenant, "/api/me")
    response = requests.get(
        f"{example_app.base_url}/api/me", headers={"Authorization": f"JWT {token}"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["code"] == "context_qsh_required"


def test_webhook_delivery(example_app, tenant):
    token = page_token(example_app, tenant, "/webhooks/issue-created", method="POST")
    response = requests.post(
        f"{example_app.base_url}/webhooks/issue-created",
        json={"webhookEvent": "jira:issue_created", "issue": {"key": "DEMO-1"}},
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    stored = example_app.manage(
        "shell",
        "-c",
        "from connect_demo.models import IssueEvent; print(list(IssueEvent.objects.values_list('issue_key', flat=True)))",
    )
    assert stored.stdout.strip().splitlines()[-1] == "['DEMO-1']", stored.stderr


def test_example_project_checks_pass_with_http_loopback(example_app):
    result = example_app.manage("check", "--fail-level", "ERROR")
    assert result.returncode == 0, result.stderr
    assert "atlassian_connect.W001" in result.stderr + result.stdout  # a warning only
