"""The example project while Redis or its database is down: it answers, or 503, never 500.

The project runs on its own SQLite file with ``CONNECT_CACHE_URL`` naming a
port where no Redis listens: the tenant cache and the install-key cache go
without it. Then the database goes down too: the file is replaced by a
directory, so every new connection fails as it does while PostgreSQL
restarts, and comes back when the file is put back. ``benchmarks/soak``
does the same with real restarts under load.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from django_atlassian_connect.testing.host import ConnectHost

from .conftest import ExampleApp, start_example_app, stop

pytestmark = pytest.mark.e2e

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture(scope="module")
def outage_app(tmp_path_factory) -> Iterator[tuple[ConnectHost, ExampleApp, Path]]:
    tmp = tmp_path_factory.mktemp("outages")
    database = tmp / "outages.sqlite3"
    host = ConnectHost().start()
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "CONNECT_CACHE_URL": "redis://127.0.0.1:9/0",  # nothing listens there
        "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
    }
    app = start_example_app(tmp, host.keys_url, env)
    try:
        yield host, app, database
    finally:
        stop(app)
        host.stop()


def page(host: ConnectHost) -> requests.Response:
    return requests.get(host.page_url("hello", account_id=ACCOUNT), timeout=10)


def webhook(host: ConnectHost) -> requests.Response:
    return host.send_webhook("jira:issue_created", {"issue": {"key": "OUT-1"}}, expect=None)


def assert_503(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == code and body["detail"] and body["hint"]


def test_without_redis_installs_pages_and_webhooks_work(outage_app):
    host, app, _database = outage_app
    # The install key is fetched although its cache cannot be read or written.
    assert host.install(app.base_url + "/atlassian-connect.json", expect=None).status_code == 204
    assert page(host).status_code == 200  # the tenant from the database
    assert webhook(host).status_code == 200
    assert host.install(rotate_secret=True, expect=None).status_code == 204
    assert page(host).status_code == 200  # signed with the new secret


def test_without_the_database_too_every_answer_is_503(outage_app):
    host, _app, database = outage_app
    moved = database.with_suffix(".away")
    database.rename(moved)
    database.mkdir()  # every new connection fails: "unable to open database file"
    try:
        assert_503(webhook(host), "database_unavailable")
        # A page needs no database while its tenant's snapshot is trusted (at most
        # TENANT_CACHE_REVALIDATE, 1 s); its next check reads the database.
        time.sleep(1.1)
        assert_503(page(host), "database_unavailable")
        assert_503(host.install(rotate_secret=True, expect=None), "database_unavailable")
        secrets_before = len(host.secrets)
    finally:
        shutil.rmtree(database)
        moved.rename(database)
    assert len(host.secrets) == secrets_before  # the site keeps the secret it had
    # Back: the same site and secret work again, and the refused rotation can be retried.
    assert page(host).status_code == 200
    assert webhook(host).status_code == 200
    assert host.install(rotate_secret=True, expect=None).status_code == 204
    assert page(host).status_code == 200
