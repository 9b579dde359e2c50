"""ServiceAccountClient over real HTTP against the simulated Atlassian.

Service accounts through the gateway; refused and unavailable client credentials;
one token fetch across threads and processes, cached encrypted.
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
from django_atlassian_connect.credentials import ServiceAccountClient, client_credentials
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from tests.credentials.support import secrets_absent

REPO = Path(__file__).resolve().parents[2]


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
