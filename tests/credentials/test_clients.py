"""ApiTokenClient and ServiceAccountClient over real HTTP against the simulated Atlassian.

Classic tokens on the site URL, scoped tokens and service accounts through the
gateway; expired, wrong and revoked credentials; one token fetch across threads
and processes, cached encrypted; credentials never sent to another origin.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.cache import cache

from django_atlassian_connect import crypto
from django_atlassian_connect.credentials import (
    ApiTokenClient,
    ServiceAccountClient,
    client_credentials,
)
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.testing.credentials import (
    AUTHENTICATE_FIRST,
    ISSUE_NOT_FOUND,
    CredentialsSimulator,
)

REPO = Path(__file__).resolve().parents[2]
EMAIL = "ada@example.com"


@pytest.fixture(scope="module")
def atlassian():
    with CredentialsSimulator() as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere():
    """Another origin: it must never see a credential."""
    with CredentialsSimulator() as server:
        yield server


@pytest.fixture(autouse=True)
def gateway_settings(settings, atlassian):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "API_URL": atlassian.url,
        "OAUTH_AUTH_URL": atlassian.url,
        "HTTP_RETRIES": 2,
    }
    client_credentials.clear_memory_cache()
    atlassian.log.clear()
    atlassian.token_requests.clear()
    atlassian.token_delay = 0.0
    yield
    client_credentials.clear_memory_cache()


def secrets_absent(text: str, *values: str) -> bool:
    return not any(value and value in text for value in values)


# -- API tokens ---------------------------------------------------------------------------------


def test_a_classic_token_calls_the_site_url_with_basic_auth(atlassian):
    token = atlassian.add_api_token(EMAIL)
    client = ApiTokenClient(EMAIL, token, atlassian.site_url)
    assert not client.through_gateway and client.base_url == atlassian.site_url
    me = client.session().get("/rest/api/3/myself").json()
    assert me["accountId"] and me["active"]
    issue = client.session().get("/rest/api/3/issue/DEMO-1").json()
    assert issue["key"] == "DEMO-1"
    assert [c["auth"] for c in atlassian.log] == ["basic", "basic"]
    assert all(c["principal"] == me["accountId"] for c in atlassian.log)
    assert token not in repr(client) and token not in repr(client.session())


def test_a_scoped_token_goes_through_the_gateway(atlassian):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    client = ApiTokenClient(EMAIL, token, atlassian.cloud_id)
    assert client.through_gateway
    assert client.base_url == f"{atlassian.url}/ex/jira/{atlassian.cloud_id}"
    assert client.session().get("/rest/api/3/myself").status_code == 200
    assert atlassian.log[-1]["path"] == f"/ex/jira/{atlassian.cloud_id}/rest/api/3/myself"
    # The whole gateway URL works too, and so does Confluence's path.
    same = ApiTokenClient(EMAIL, token, client.base_url + "/")
    assert same.base_url == client.base_url and same.cloud_id == atlassian.cloud_id
    wiki = ApiTokenClient(EMAIL, token, atlassian.cloud_id, product="confluence")
    assert wiki.session().get("/wiki/rest/api/user/current").json()["type"] == "known"


def test_a_scoped_token_on_the_site_url_runs_as_anonymous(atlassian):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    session = ApiTokenClient(EMAIL, token, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        session.get("/rest/api/3/issue/DEMO-1")
    error = caught.value
    assert error.status == 404 and error.code == "api_not_found"
    assert ISSUE_NOT_FOUND in error.product_message
    assert atlassian.log[-1]["principal"] == "anonymous"
    assert error.credential == "api_token" and error.email == EMAIL
    assert secrets_absent(str(error) + repr(error), token)


def test_a_wrong_pair_runs_as_anonymous_and_an_expired_token_is_a_401(atlassian):
    token = atlassian.add_api_token(EMAIL)
    wrong = ApiTokenClient("bob@example.com", token, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/issue/DEMO-1")
    assert caught.value.status == 404
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/myself")
    assert caught.value.status == 401 and AUTHENTICATE_FIRST in caught.value.product_message
    atlassian.expire_api_token(token)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, token, atlassian.site_url).session().get("/rest/api/3/issue/DEMO-1")
    assert caught.value.status == 401 and caught.value.code == "api_unauthorized"
    assert secrets_absent(str(caught.value) + repr(caught.value), token)


def test_the_gateway_refuses_classic_and_revoked_tokens(atlassian):
    classic = atlassian.add_api_token(EMAIL)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get("/rest/api/3/myself")
    assert caught.value.status == 401
    scoped = atlassian.add_api_token(EMAIL, scoped=True)
    atlassian.revoke_api_token(scoped)
    with pytest.raises(ConnectAPIError):
        ApiTokenClient(EMAIL, scoped, atlassian.cloud_id).session().get("/rest/api/3/myself")


def test_credentials_go_to_the_configured_base_only(atlassian, elsewhere):
    token = atlassian.add_api_token(EMAIL, scoped=True)
    session = ApiTokenClient(EMAIL, token, atlassian.cloud_id).session()
    elsewhere.log.clear()
    for url in (
        f"{elsewhere.url}/rest/api/3/myself",  # another origin
        f"{atlassian.url}/rest/api/3/myself",  # the right host, outside the base path
        f"{atlassian.url}/ex/jira/{atlassian.cloud_id}/../{atlassian.cloud_id}x/rest",
    ):
        with pytest.raises(ConnectClientError) as caught:
            session.get(url)
        assert caught.value.code == "url_not_allowed"
    assert elsewhere.log == [] and atlassian.log == []
    # A redirect to another origin is followed without the credentials.
    target = f"{elsewhere.url}/rest/api/3/myself"
    with pytest.raises(ConnectAPIError):
        session.get("/redirect", params={"to": target})
    assert [(c["path"], c["auth"]) for c in elsewhere.log] == [("/rest/api/3/myself", None)]


def test_retries_honour_retry_after(atlassian):
    token = atlassian.add_api_token(EMAIL)
    atlassian.fail_next(429, retry_after=0)
    atlassian.fail_next(503)
    response = ApiTokenClient(EMAIL, token, atlassian.site_url).session().get("/rest/api/3/myself")
    assert response.status_code == 200 and len(atlassian.log) == 3


@pytest.mark.parametrize(
    "target",
    [
        "http://acme.atlassian.net",  # plain http to a real host
        "https://user:pw@acme.atlassian.net",
        "not-a-cloud-id",
        "acme.atlassian.net",
    ],
)
def test_bad_targets_are_refused_when_the_client_is_made(target):
    with pytest.raises(ValueError):
        ApiTokenClient(EMAIL, "ATATT3xtoken", target)


def test_the_gateway_host_is_not_a_site(atlassian):
    with pytest.raises(ValueError, match="cloudId"):
        ApiTokenClient(EMAIL, "ATATT3xtoken", atlassian.url + "/")
    with pytest.raises(ValueError):
        ApiTokenClient("not-an-email", "ATATT3xtoken", atlassian.cloud_id)
    with pytest.raises(ValueError):
        ApiTokenClient(EMAIL, "ATATT3xtoken", atlassian.cloud_id, product="bitbucket")


def test_api_url_is_read_when_used(settings, atlassian):
    client = ApiTokenClient(EMAIL, "t", atlassian.cloud_id)
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "API_URL": "https://gw.example"}
    assert ApiTokenClient(EMAIL, "t", atlassian.cloud_id).base_url.startswith("https://gw.example")
    assert client.base_url.startswith(atlassian.url)  # bound when it was made


# -- service accounts -----------------------------------------------------------------------------


def test_a_service_account_calls_through_the_gateway_with_one_token(atlassian):
    client_id, secret = atlassian.add_service_account()
    client = ServiceAccountClient(client_id, secret, atlassian.cloud_id)
    for _ in range(3):
        assert client.session().get("/rest/api/3/myself").status_code == 200
    assert len(atlassian.token_requests) == 1
    assert atlassian.token_requests[0]["grant_type"] == "client_credentials"
    assert [c["auth"] for c in atlassian.calls("/ex/")] == ["bearer"] * 3
    assert secret not in repr(client) and client.access_token() not in repr(client)


def test_the_token_is_cached_encrypted_and_renewed_before_it_expires(atlassian):
    client_id, secret = atlassian.add_service_account()
    token = client_credentials.get_token(client_id, secret)
    key = client_credentials._key(client_id, secret)
    stored = cache.get(key)
    assert isinstance(stored, str) and token.token not in stored and secret not in key
    assert json.loads(crypto.decrypt(stored))["token"] == token.token
    # Another process (no memory copy) takes it from the shared cache.
    client_credentials.clear_memory_cache()
    assert client_credentials.get_token(client_id, secret).token == token.token
    assert len(atlassian.token_requests) == 1
    # OAUTH_REFRESH_MARGIN seconds before expires_in runs out, a new one is fetched.
    later = token.expires_at - client_credentials.margin() + 1
    renewed = client_credentials.get_token(client_id, secret, now=later)
    assert renewed.token != token.token and len(atlassian.token_requests) == 2


def test_a_refused_token_is_dropped_and_fetched_again(atlassian):
    client_id, secret = atlassian.add_service_account()
    client = ServiceAccountClient(client_id, secret, atlassian.cloud_id)
    client.session().get("/rest/api/3/myself")
    atlassian.expire_access_tokens()  # e.g. the credential was rotated on Atlassian's side
    with pytest.raises(ConnectAPIError) as caught:
        client.session().get("/rest/api/3/myself")
    assert caught.value.status == 401 and caught.value.client_id == client_id
    assert client.session().get("/rest/api/3/myself").status_code == 200
    assert len(atlassian.token_requests) == 2


def test_eight_threads_make_one_token_request(atlassian):
    client_id, secret = atlassian.add_service_account()
    atlassian.token_delay = 0.3
    client = ServiceAccountClient(client_id, secret, atlassian.cloud_id)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        statuses.append(client.session().get("/rest/api/3/myself").status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 8 and len(atlassian.token_requests) == 1


@pytest.mark.parametrize("how", ["wrong_secret", "revoked", "unknown_client"])
def test_refused_client_credentials(atlassian, how):
    client_id, secret = atlassian.add_service_account()
    if how == "wrong_secret":
        secret = secret + "x"
    elif how == "revoked":
        atlassian.revoke_service_account(client_id)
    else:
        client_id = "nobody"
    session = ServiceAccountClient(client_id, secret, atlassian.cloud_id).session()
    with pytest.raises(ConnectClientError) as caught:
        session.get("/rest/api/3/myself")
    error = caught.value
    assert error.code == "service_account_refused" and error.oauth_error == "access_denied"
    assert error.status == 401 and error.client_id == client_id
    assert secrets_absent(str(error) + repr(error), secret)
    assert atlassian.calls("/ex/") == []  # nothing went to the product


def test_an_unavailable_authorization_server(atlassian, settings):
    client_id, secret = atlassian.add_service_account()
    atlassian.fail_next(503, count=3)  # HTTP_RETRIES is 2: three answers, all 503
    with pytest.raises(ConnectClientError) as caught:
        client_credentials.get_token(client_id, secret)
    assert caught.value.code == "service_account_unavailable" and caught.value.status == 503
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_AUTH_URL": "http://127.0.0.1:9",
    }
    with pytest.raises(ConnectClientError) as caught:
        client_credentials.get_token(client_id, secret)
    error = caught.value
    assert error.code == "service_account_unavailable" and "ConnectionError" in error.detail
    # The cause keeps its type, not requests' exception whose request body holds the secret.
    assert isinstance(error.__cause__, requests.ConnectionError) and error.__context__ is None
    assert error.__cause__.request is None and error.__cause__.__context__ is None
    assert secrets_absent(str(error) + repr(error) + repr(error.__cause__), secret)
    assert secret.encode() not in pickle.dumps(error)


def test_an_answer_without_a_token(rsps, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_AUTH_URL": "https://auth.example",
    }
    rsps.post("https://auth.example/oauth/token", json={"token_type": "Bearer"})
    with pytest.raises(ConnectClientError) as caught:
        client_credentials.get_token("cid", "secret")
    assert caught.value.code == "service_account_unavailable"
    body = json.loads(rsps.calls[0].request.body)
    assert body == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "secret",
    }


@pytest.fixture
def auth_example(rsps, settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_AUTH_URL": "https://auth.example",
    }
    return rsps


def test_a_missing_expires_in_is_900_seconds(auth_example):
    auth_example.post("https://auth.example/oauth/token", json={"access_token": "tok"})
    before = time.time()
    token = client_credentials.request_token("cid", "secret")
    assert token.token == "tok" and before + 900 <= token.expires_at <= time.time() + 900


@pytest.mark.parametrize("raw", ["0", "true", '"3600"', "NaN", "Infinity", "null"])
def test_a_present_but_invalid_expires_in_is_an_error(auth_example, raw):
    auth_example.post(
        "https://auth.example/oauth/token",
        body='{"access_token": "tok", "expires_in": ' + raw + "}",
    )
    with pytest.raises(ConnectClientError) as caught:
        client_credentials.request_token("cid", "secret")
    assert caught.value.code == "service_account_unavailable"


def test_an_error_answer_naming_no_error_is_not_a_refusal(auth_example):
    # A wrong OAUTH_AUTH_URL answers 404 without an OAuth error: not the credentials' fault.
    auth_example.post("https://auth.example/oauth/token", status=404, body="<html></html>")
    with pytest.raises(ConnectClientError) as caught:
        client_credentials.request_token("cid", "secret")
    assert (caught.value.code, caught.value.status) == ("service_account_unavailable", 404)


SCRIPT = """
import json, os, sys, time
import django
django.setup()
from django_atlassian_connect.credentials import ServiceAccountClient
client = ServiceAccountClient(os.environ["SA_ID"], os.environ["SA_SECRET"], os.environ["CLOUD_ID"])
session = client.session()
time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
print(json.dumps(session.get("/rest/api/3/myself").json()))
"""


def test_processes_sharing_a_cache_make_one_token_request(atlassian, tmp_path):
    """Four processes, a database cache they share: one token request, the same token."""
    client_id, secret = atlassian.add_service_account()
    atlassian.token_delay = 0.5
    (tmp_path / "shared_cache_settings.py").write_text(
        textwrap.dedent(
            f"""
            from tests.settings import *  # noqa: F403
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                       "NAME": {str(tmp_path / "cache.sqlite3")!r}}}}}
            CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                    "LOCATION": "token_cache"}}}}
            ATLASSIAN_CONNECT = {{**ATLASSIAN_CONNECT, "API_URL": {atlassian.url!r},  # noqa: F405
                                  "OAUTH_AUTH_URL": {atlassian.url!r}}}
            """
        )
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shared_cache_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "SA_ID": client_id,
        "SA_SECRET": secret,
        "CLOUD_ID": atlassian.cloud_id,
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.core.management "
            "import call_command; call_command('createcachetable')",
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    env["START_AT"] = str(time.time() + 4)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in results]
    assert len({json.loads(out)["accountId"] for out, _ in results}) == 1
    assert len(atlassian.token_requests) == 1


# -- the guide's examples run as written -------------------------------------------------------


@pytest.mark.parametrize("caption", ["API token", "Service account"])
def test_the_guide_examples_run(atlassian, monkeypatch, caption):
    from tests.docs_code import DOCS, code_blocks

    code = code_blocks(DOCS / "guides" / "calling-without-connect.rst")[caption]
    client_id, secret = atlassian.add_service_account()
    for name, value in {
        "JIRA_EMAIL": EMAIL,
        "JIRA_API_TOKEN": atlassian.add_api_token(EMAIL),
        "JIRA_SCOPED_TOKEN": atlassian.add_api_token(EMAIL, scoped=True),
        "JIRA_SITE": atlassian.site_url,
        "JIRA_CLOUD_ID": atlassian.cloud_id,
        "JIRA_SA_CLIENT_ID": client_id,
        "JIRA_SA_SECRET": secret,
    }.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {}
    exec(compile(code, f"calling-without-connect.rst[{caption}]", "exec"), namespace)
    assert namespace["me"]["accountId"]
    assert namespace["issue"]["key"] == "DEMO-1"


# -- hints name the API-token causes ---------------------------------------------------------------


def test_error_hints_name_the_credential_causes(atlassian):
    classic = atlassian.add_api_token(EMAIL)
    wrong = ApiTokenClient("bob@example.com", classic, atlassian.site_url).session()
    with pytest.raises(ConnectAPIError) as caught:
        wrong.get("/rest/api/3/issue/DEMO-1")
    assert "anonymous" in caught.value.hint and "connect_doctor credentials" in caught.value.hint
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get("/rest/api/3/myself")
    assert "classic token" in caught.value.hint
    atlassian.expire_api_token(classic)
    with pytest.raises(ConnectAPIError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.site_url).session().get("/rest/api/3/myself")
    assert "2024-12-15" in caught.value.hint
    response = (
        ApiTokenClient(EMAIL, classic, atlassian.site_url)
        .session(raise_for_status=False)
        .get("/rest/api/3/myself")
    )
    assert response.status_code == 401
    with pytest.raises(ConnectClientError) as caught:
        ApiTokenClient(EMAIL, classic, atlassian.cloud_id).session().get(atlassian.site_url)
    assert "scoped API token is never sent to the site URL" in caught.value.hint
