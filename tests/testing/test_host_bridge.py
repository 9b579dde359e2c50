"""The simulated site's AP bridge, server side: its scripts, its page, context tokens,
``AP.request``; and webhooks' ``expect``. The browser side is tests/e2e/test_browser.py."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import jwt
import pytest
import requests

from django_atlassian_connect.qsh import CONTEXT_QSH
from django_atlassian_connect.testing.host import ConnectHost, HostError, SecretRecord

APP_KEY = "com.example.app"
SECRET = "ATCO-current-secret-" + "s" * 30
ALANA = "5b10ac8d82e05b22cc7d4ef5"
BORIS = "5b10a2844c20165700ede21g"


def installed(host: ConnectHost, product_path: str = "") -> ConnectHost:
    host.descriptor = {
        "key": APP_KEY,
        "name": "Example app",
        "baseUrl": "http://127.0.0.1:1/app",
        "scopes": ["READ"],
        "lifecycle": {"installed": "/installed"},
        "modules": {
            "generalPages": [
                {"key": "hello", "url": "/hello", "name": {"value": "Hello"}},
                {"key": "other", "url": "/other", "name": {"value": "Other"}},
            ],
            "webhooks": [{"event": "jira:issue_created", "url": "/hooks/created"}],
        },
    }
    host.secrets = [SecretRecord(SECRET, 1.0)]
    host.installed = True
    return host


@pytest.fixture
def host():
    with ConnectHost() as site:
        yield installed(site)


def bridge(host, path, session, body=None, origin=None):
    headers = {"X-Site-Session": session, "Origin": host.url if origin is None else origin}
    return requests.post(
        f"{host.url}/atlassian-connect/{path}", json=body or {}, headers=headers, timeout=10
    )


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="site-config">(.*?)</script>', html)
    assert found, html
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("all.js", "application/javascript", "AP.context.getToken"),
        ("host.js", "application/javascript", "event.source !== frame.contentWindow"),
        ("host.css", "text/css", ".site-header"),
    ],
)
def test_the_bridge_scripts_are_served(host, name, content_type, marker):
    response = requests.get(f"{host.url}/atlassian-connect/{name}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert marker in response.text
    assert host.all_js_url == f"{host.url}/atlassian-connect/all.js"


def test_unknown_bridge_file_is_404(host):
    assert requests.get(f"{host.url}/atlassian-connect/x.js", timeout=10).status_code == 404


def test_the_page_frames_a_module_for_the_signed_in_user(host):
    html = requests.get(f"{host.url}/?module=other&user={BORIS}", timeout=10).text
    assert 'id="signed-in-user" data-account-id="5b10a2844c20165700ede21g"' in html
    assert "Boris Petrov" in html and 'id="app-frame"' in html
    assert 'src="http://127.0.0.1:1/app/other?' in html
    config = page_config(html)
    assert config["appOrigin"] == "http://127.0.0.1:1"
    assert (config["appKey"], config["moduleKey"]) == (APP_KEY, "other")
    assert host.page_sessions[config["session"]] == BORIS
    assert config["context"]["url"]["displayUrl"] == host.base_url


def test_the_page_defaults_to_the_first_module_and_user(host):
    config = page_config(requests.get(host.url + "/", timeout=10).text)
    assert config["moduleKey"] == "hello"
    assert host.page_sessions[config["session"]] == ALANA


def test_the_page_without_such_a_module_or_app(host):
    assert "No such page" in requests.get(f"{host.url}/?module=nope", timeout=10).text
    with ConnectHost() as bare:
        assert "No app installed" in requests.get(bare.url, timeout=10).text


def test_the_page_escapes_what_it_shows(host):
    host.descriptor["name"] = "</script><b>app"
    html = requests.get(host.url, timeout=10).text
    assert "</script><b>" not in html
    page_config(html)  # still parses


def test_context_token_for_the_pages_user(host):
    session = host.open_session(BORIS)
    response = bridge(host, "context-token", session)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"], claims["qsh"]) == (host.client_key, BORIS, CONTEXT_QSH)
    assert claims["exp"] - claims["iat"] == 900 == host.context_token_lifetime
    assert response.json()["exp"] == claims["exp"]
    record = host.context_tokens[-1]
    assert (record.account_id, record.token, record.session) == (BORIS, token, session)


def test_context_token_is_reused_while_valid_and_renewed_after(host):
    session = host.open_session(ALANA)
    first = bridge(host, "context-token", session).json()["token"]
    assert bridge(host, "context-token", session).json()["token"] == first
    assert len(host.context_tokens) == 1
    # another page (session) gets its own
    bridge(host, "context-token", host.open_session(ALANA))
    assert len(host.context_tokens) == 2
    host.context_tokens[0].expires_at = int(time.time()) - 1
    bridge(host, "context-token", session)
    assert len(host.context_tokens) == 3
    assert host.context_tokens[2].session == session


def test_context_token_lifetime_is_configurable(host):
    host.context_token_lifetime = 2
    session = host.open_session(ALANA)
    first = bridge(host, "context-token", session).json()
    claims = jwt.decode(first["token"], SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 2
    time.sleep(first["exp"] - time.time() + 0.1)
    assert bridge(host, "context-token", session).json()["token"] != first["token"]
    assert ConnectHost(context_token_lifetime=5).context_token_lifetime == 5


def test_context_token_after_a_secret_rotation_is_signed_with_the_new_secret(host):
    session = host.open_session(ALANA)
    first = bridge(host, "context-token", session).json()["token"]
    host.secrets[-1].retired_at = time.time()
    host.secrets.append(SecretRecord("ATCO-new-secret-" + "n" * 30, time.time()))
    token = bridge(host, "context-token", session).json()["token"]
    assert token != first
    jwt.decode(token, host.shared_secret, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("session", "origin", "status", "reason"),
    [
        ("unknown", None, 401, "unknown page session"),
        ("", None, 401, "unknown page session"),
        (None, "http://127.0.0.1:9", 403, "not from http://127.0.0.1:9"),
        (None, "", 403, "without Origin"),
    ],
)
def test_bridge_calls_need_the_sites_page(host, session, origin, status, reason):
    real = host.open_session(ALANA)
    for path in ("context-token", "request"):
        response = bridge(host, path, real if session is None else session, origin=origin)
        assert response.status_code == status
        assert reason in response.json()["message"]
    assert host.context_tokens == []


def test_ap_request_is_answered_as_the_pages_user(host):
    answer = bridge(host, "request", host.open_session(BORIS), {"url": "/rest/api/3/myself"})
    assert answer.status_code == 200
    payload = answer.json()
    assert (payload["status"], payload["statusText"]) == (200, "OK")
    assert payload["headers"]["content-type"] == "application/json"
    me = json.loads(payload["body"])
    assert (me["accountId"], me["accountType"]) == (BORIS, "atlassian")
    entry = host.log[-2]  # the proxied call, then the bridge request itself
    assert (entry["via"], entry["account_id"], entry["status"]) == ("AP.request", BORIS, 200)


def test_ap_request_data_becomes_the_query_of_a_get(host):
    options = {"url": "/rest/api/3/search?jql=x", "type": "get", "data": {"maxResults": 5}}
    payload = bridge(host, "request", host.open_session(ALANA), options).json()
    assert json.loads(payload["body"])["echo"] == [["jql", "x"], ["maxResults", "5"]]


@pytest.mark.parametrize(
    ("options", "status", "text"),
    [
        ({"url": "/rest/api/3/search", "type": "POST"}, 403, "lack WRITE"),
        ({"url": "/rest/api/3/nothing"}, 404, "no such resource"),
    ],
)
def test_ap_request_answers_the_products_refusals(host, options, status, text):
    payload = bridge(host, "request", host.open_session(ALANA), options).json()
    assert payload["status"] == status and text in payload["body"]


@pytest.mark.parametrize("url", ["https://evil.example/rest", "//evil.example/x", "rest/api", ""])
def test_ap_request_takes_only_a_path_on_the_site(host, url):
    response = bridge(host, "request", host.open_session(ALANA), {"url": url})
    assert response.status_code == 400
    assert "a path on the site" in response.json()["message"]


def test_ap_request_on_confluence_is_relative_to_wiki():
    with ConnectHost(product="confluence") as site:
        installed(site)
        options = {"url": "/rest/api/user/current"}
        payload = bridge(site, "request", site.open_session(ALANA), options).json()
        assert payload["status"] == 200
        assert json.loads(payload["body"])["accountId"] == ALANA


def test_ap_request_while_rate_limited(host):
    host.rate_limit = [7]
    payload = bridge(host, "request", host.open_session(ALANA), {"url": "/rest/api/3/myself"})
    assert payload.json()["status"] == 429
    assert payload.json()["headers"]["retry-after"] == "7"


def test_page_sessions_are_bounded(host, monkeypatch):
    monkeypatch.setattr("django_atlassian_connect.testing.host.bridge.MAX_SESSIONS", 3)
    sessions = [host.open_session(ALANA) for _ in range(5)]
    assert list(host.page_sessions) == sessions[2:]


# -- webhooks: any 2xx is success by default --------------------------------------


def answering(*statuses):
    calls = []

    def transport(method, url, body, headers):
        calls.append((method, url, body, headers))
        return SimpleNamespace(status_code=statuses[len(calls) - 1], content=b"{}", headers={})

    transport.calls = calls
    return transport


@pytest.mark.parametrize("status", [200, 202, 204])
def test_send_webhook_accepts_any_2xx_by_default(host, status):
    host.transport = answering(status)
    assert (
        host.send_webhook("jira:issue_created", {"issue": {"key": "DEMO-1"}}).status_code == status
    )
    method, url, body, headers = host.transport.calls[0]
    assert (method, url) == ("POST", "http://127.0.0.1:1/app/hooks/created")
    assert body["webhookEvent"] == "jira:issue_created" and body["issue"] == {"key": "DEMO-1"}
    assert headers["Authorization"].startswith("JWT ")


@pytest.mark.parametrize("status", [301, 400, 500])
def test_send_webhook_refuses_other_statuses_by_default(host, status):
    host.transport = answering(status)
    with pytest.raises(HostError, match=f"answered {status} \\(expected a 2xx\\)"):
        host.send_webhook("jira:issue_created", {})


def test_send_webhook_with_an_explicit_expect(host):
    host.transport = answering(204)
    with pytest.raises(HostError, match="answered 204 \\(expected 200\\)"):
        host.send_webhook("jira:issue_created", {}, expect=200)
    host.transport = answering(401)
    assert host.send_webhook("jira:issue_created", {}, expect=401).status_code == 401
    host.transport = answering(500)
    assert host.send_webhook("jira:issue_created", {}, expect=None).status_code == 500
