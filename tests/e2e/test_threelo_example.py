"""The example project's OAuth 2.0 (3LO) account linking, over real HTTP.

The example project runs as a real server on 127.0.0.1 (SQLite, or PostgreSQL
with ``CONNECT_E2E_DATABASE_URL``), pointed at the simulated authorization
server and API gateway (``CONNECT_OAUTH_*``, ``CONNECT_API_URL``). A Django
user logs in at ``/accounts/login/``, links an Atlassian account, calls Jira;
the access token expires and is refreshed; 8 processes sharing the database
call with an expired token and make exactly one refresh request between them;
a revoked grant answers 409; a wrong or replayed state stores nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from django_atlassian_connect.testing.oauth import OAuthServer

from .conftest import ExampleApp, start_example_app

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-password-1"
#: Seconds of life a "short" access token gets: just past OAUTH_REFRESH_MARGIN (300), so
#: a moment later the app considers it due for a refresh.
SHORT_TTL = 302
PROCESSES = 8

CALL_IN_A_PROCESS = """
import json, os, pathlib, time
from django.contrib.auth import get_user_model
from django_atlassian_connect.models import OAuthGrant
from django_atlassian_connect.threelo.client import OAuthClient

user = get_user_model().objects.get(username=os.environ["E2E_USER"])
grant = OAuthGrant.objects.get(user=user)  # this process's copy: the old tokens
session = OAuthClient(grant, os.environ["E2E_CLOUD_ID"]).session()
pathlib.Path(os.environ["E2E_READY"]).touch()
go, deadline = pathlib.Path(os.environ["E2E_GO"]), time.time() + 120
while not go.exists() and time.time() < deadline:
    time.sleep(0.005)
response = session.get("/rest/api/3/myself")
print("RESULT " + json.dumps({"status": response.status_code, "body": response.json()}))
"""


@dataclass
class Linked:
    browser: requests.Session
    username: str
    cloud_id: str


@pytest.fixture(scope="module")
def atlassian() -> Iterator[OAuthServer]:
    with OAuthServer() as server:
        server.add_account("Alana Grant", "alana@example.com")
        server.add_site("Acme", "https://acme.atlassian.net")
        yield server


@pytest.fixture(scope="module")
def app(tmp_path_factory, e2e_key_server, atlassian) -> Iterator[ExampleApp]:
    example = start_example_app(
        tmp_path_factory.mktemp("threelo"), e2e_key_server.url, atlassian.env()
    )
    try:
        yield example
    finally:
        example.process.terminate()
        try:
            example.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            example.process.kill()


def shell(app: ExampleApp, code: str) -> str:
    """Run ``code`` in ``manage.py shell`` against the app's database; its last line."""
    result = app.manage("shell", "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def grant_state(app: ExampleApp, username: str) -> list[str]:
    """``[status, refresh token fingerprint]`` of each of the user's grants."""
    out = shell(
        app,
        "import json; from django_atlassian_connect.models import OAuthGrant; "
        f"print(json.dumps([[g.status, g.refresh_token_fingerprint] for g in "
        f"OAuthGrant.objects.filter(user__username={username!r})]))",
    )
    return json.loads(out)


def new_user(app: ExampleApp) -> str:
    username = f"user-{uuid.uuid4().hex[:10]}"  # unique on a shared PostgreSQL database too
    shell(
        app,
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r})",
    )
    return username


def login(app: ExampleApp, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(app.base_url + "/accounts/login/", timeout=30)
    assert page.status_code == 200 and 'name="password"' in page.text
    response = browser.post(
        app.base_url + "/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    return browser


def authorize(app: ExampleApp, browser: requests.Session) -> str:
    """``GET /oauth/connect``: the authorize URL it redirects to."""
    response = browser.get(app.base_url + "/oauth/connect", allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def link(app: ExampleApp, atlassian: OAuthServer, *, ttl: int | None = None) -> Linked:
    """A new Django user logs in and links the consenting account."""
    username = new_user(app)
    browser = login(app, username)
    atlassian.state.access_ttl = ttl or 3600
    try:
        callback = atlassian.consent_redirect(authorize(app, browser))
        response = browser.get(callback, allow_redirects=False, timeout=30)
    finally:
        atlassian.state.access_ttl = 3600
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"] == "/oauth/resources"
    resources = browser.get(app.base_url + "/oauth/resources", timeout=30).json()["resources"]
    return Linked(browser, username, resources[0]["id"])


def myself(app: ExampleApp, linked: Linked) -> requests.Response:
    return linked.browser.get(
        app.base_url + "/oauth/myself", params={"cloudId": linked.cloud_id}, timeout=60
    )


def test_login_and_the_oauth_urls_need_a_user(app):
    assert requests.get(app.base_url + "/accounts/login/", timeout=30).status_code == 200
    for path in ("/oauth/connect", "/oauth/resources", "/oauth/myself?cloudId=x"):
        response = requests.get(app.base_url + path, allow_redirects=False, timeout=30)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/accounts/login/?next=/oauth/")


def test_link_then_call_jira_as_the_user(app, atlassian):
    username = new_user(app)
    browser = login(app, username)
    location = authorize(app, browser)
    assert location.startswith(atlassian.auth_url + "/authorize?")
    query = atlassian.query_of(location)
    assert query["audience"] == "api.atlassian.com"
    assert query["client_id"] == atlassian.client_id
    assert "offline_access" in query["scope"].split()
    assert query["redirect_uri"] == app.base_url + "/oauth/callback"
    assert (query["response_type"], query["prompt"]) == ("code", "consent")
    assert len(query["state"]) >= 32
    callback = atlassian.consent_redirect(location)
    assert urlsplit(callback).path == "/oauth/callback"
    response = browser.get(callback, allow_redirects=False, timeout=30)
    assert response.status_code == 302 and response.headers["Location"] == "/oauth/resources"

    site = next(iter(atlassian.state.sites.values()))
    resources = browser.get(app.base_url + "/oauth/resources", timeout=30).json()
    assert resources == {"resources": [{"id": site.cloud_id, "url": site.url, "name": site.name}]}
    before = len(atlassian.api.calls("/myself"))
    answer = browser.get(
        app.base_url + "/oauth/myself", params={"cloudId": site.cloud_id}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    account = next(iter(atlassian.state.accounts.values()))
    assert answer.json()["accountId"] == account.account_id
    assert answer.json()["displayName"] == "Alana Grant"
    (call,) = atlassian.api.calls("/myself")[before:]
    assert call["path"] == f"/ex/jira/{site.cloud_id}/rest/api/3/myself" and call["status"] == 200
    assert grant_state(app, username)[0][0] == "active"

    # The same callback again (a replayed state) is refused and changes nothing.
    stored = grant_state(app, username)
    exchanges = atlassian.counters["code_exchanges"]
    replay = browser.get(callback, allow_redirects=False, timeout=30)
    assert replay.status_code == 400
    assert atlassian.counters["code_exchanges"] == exchanges
    assert grant_state(app, username) == stored


def test_a_wrong_state_stores_nothing(app, atlassian):
    username = new_user(app)
    browser = login(app, username)
    callback = atlassian.consent_redirect(authorize(app, browser))
    exchanges = atlassian.counters["code_exchanges"]
    forged = callback.replace("state=", "state=forged")
    response = browser.get(forged, allow_redirects=False, timeout=30)
    assert response.status_code == 400 and "oauth_state_invalid" in response.text
    denied = browser.get(
        app.base_url + "/oauth/callback?error=access_denied&state=x",
        allow_redirects=False,
        timeout=30,
    )
    assert denied.status_code == 400
    assert atlassian.counters["code_exchanges"] == exchanges
    assert grant_state(app, username) == []
    assert browser.get(app.base_url + "/oauth/resources", timeout=30).json() == {"resources": []}
    missing = browser.get(
        app.base_url + "/oauth/myself", params={"cloudId": "x"}, timeout=30
    ).json()
    assert missing["code"] == "oauth_not_linked"


def test_an_expired_access_token_is_refreshed_before_the_call(app, atlassian):
    linked = link(app, atlassian, ttl=SHORT_TTL)
    first = grant_state(app, linked.username)[0][1]
    time.sleep(SHORT_TTL - 300 + 0.5)  # now within OAUTH_REFRESH_MARGIN of its expiry
    atlassian.expire_access_tokens()  # and the gateway no longer takes it
    refreshes = atlassian.counters["refresh_requests"]
    response = myself(app, linked)
    assert response.status_code == 200, response.text
    assert atlassian.counters["refresh_requests"] == refreshes + 1
    status, second = grant_state(app, linked.username)[0]
    assert status == "active" and second != first  # the rotated refresh token is stored
    assert myself(app, linked).status_code == 200
    assert atlassian.counters["refresh_requests"] == refreshes + 1  # fresh now: no refresh


def test_eight_processes_with_an_expired_token_make_one_refresh(app, atlassian, tmp_path):
    linked = link(app, atlassian, ttl=SHORT_TTL)
    time.sleep(SHORT_TTL - 300 + 0.5)
    atlassian.expire_access_tokens()
    counters = dict(atlassian.counters)
    env = {**app.env, "E2E_USER": linked.username, "E2E_CLOUD_ID": linked.cloud_id}
    env["E2E_GO"] = str(tmp_path / "go")
    processes = []
    for n in range(PROCESSES):
        ready = tmp_path / f"ready-{n}"
        processes.append(
            (
                ready,
                subprocess.Popen(
                    [sys.executable, str(app.manage_py), "shell", "-c", CALL_IN_A_PROCESS],
                    env={**env, "E2E_READY": str(ready)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    try:
        deadline = time.monotonic() + 180
        while not all(ready.exists() for ready, _ in processes):
            assert time.monotonic() < deadline, "the processes did not get ready"
            for _, process in processes:
                assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert atlassian.counters["refresh_requests"] == counters.get("refresh_requests", 0)
        calls_before = len(atlassian.api.calls("/myself"))
        Path(env["E2E_GO"]).touch()  # all at once
        results = []
        for _, process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, out + err
            line = next(x for x in out.splitlines() if x.startswith("RESULT "))
            results.append(json.loads(line[len("RESULT ") :]))
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
    account = next(iter(atlassian.state.accounts.values()))
    assert [r["status"] for r in results] == [200] * PROCESSES
    assert {r["body"]["accountId"] for r in results} == {account.account_id}

    def delta(name: str) -> int:
        return atlassian.counters[name] - counters.get(name, 0)

    assert delta("refresh_requests") == 1, dict(atlassian.counters)
    assert delta("reused_in_window") == 0 and delta("reused_after_window") == 0
    assert delta("invalid_grant") == 0
    calls = atlassian.api.calls("/myself")[calls_before:]
    assert len(calls) == PROCESSES and {c["status"] for c in calls} == {200}
    assert len({c["token"] for c in calls}) == 1  # one new access token, used by all
    issued = atlassian.state.token_log[-1]["refresh_token_issued"]
    assert grant_state(app, linked.username) == [["active", "sha256:" + issued]]
    _report(results, delta)


def _report(results: list[dict], delta) -> None:
    line = (
        f"3LO concurrency: {PROCESSES} processes, {len(results)} calls answered 200, "
        f"{delta('refresh_requests')} refresh request(s), "
        f"{delta('reused_in_window')} reuse(s) within the window, "
        f"{delta('reused_after_window')} after it"
    )
    print(line)
    path = os.environ.get("THREELO_FIGURES")
    if path:
        Path(path).write_text(line + "\n", encoding="utf-8")


def test_a_revoked_grant_answers_409_and_asks_to_link_again(app, atlassian):
    revoked = atlassian.add_account("Rene Revoked", "rene@example.com")
    atlassian.consent_as(revoked)
    try:
        linked = link(app, atlassian, ttl=SHORT_TTL)
    finally:
        atlassian.consent.account_id = None
    time.sleep(SHORT_TTL - 300 + 0.5)
    atlassian.revoke(revoked)  # the user removed the app from their Atlassian account
    refreshes = atlassian.counters["refresh_requests"]
    response = myself(app, linked)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "oauth_grant_revoked" and body["detail"]
    assert atlassian.counters["refresh_requests"] == refreshes + 1
    again = myself(app, linked)  # known revoked: nothing is sent
    assert again.status_code == 409 and again.json()["code"] == "oauth_grant_revoked"
    assert atlassian.counters["refresh_requests"] == refreshes + 1
    assert grant_state(app, linked.username) == [["revoked", None]]
    listed = linked.browser.get(app.base_url + "/oauth/resources", timeout=30).json()
    assert listed == {"resources": []}


def test_no_code_token_or_secret_reaches_the_server_log(app, atlassian):
    log = app.log()
    assert "GET /oauth/callback?" in log  # the access log has the callbacks, redacted
    with atlassian.state.lock:
        secrets = [*atlassian.state.tokens, *atlassian.state.codes, atlassian.client_secret]
    assert len(secrets) > 10
    leaked = [s[:6] + "…" for s in secrets if s in log]
    assert not leaked, leaked


def test_3lo_is_off_without_a_client_id(example_app):
    """``example_app`` runs without ``CONNECT_OAUTH_CLIENT_ID``: no /oauth/... URLs."""
    for path in ("/oauth/connect", "/oauth/callback", "/oauth/resources", "/oauth/myself"):
        response = requests.get(example_app.base_url + path, allow_redirects=False, timeout=30)
        assert response.status_code == 404, path
    assert requests.get(example_app.base_url + "/accounts/login/", timeout=30).status_code == 200
