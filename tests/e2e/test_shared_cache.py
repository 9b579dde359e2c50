"""Two app processes sharing a Redis cache: a lifecycle change in one reaches the other.

A rotation at once (a token signed with the new secret is refused by stale
state only until its refusal reads the version key); an uninstall within
``TENANT_CACHE_REVALIDATE`` (1 s): a warm request reads nothing from Redis,
the version key is read once per tenant per interval. Skipped without Redis.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import start_example_app
from tests.e2e.test_celery_worker import REDIS_URL, redis_available

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_apps(tmp_path_factory):
    if not redis_available():
        pytest.skip(f"no Redis reachable at {REDIS_URL} (.ci/run starts one)")
    import redis

    cache_url = REDIS_URL.rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(cache_url).flushdb()
    tmp = tmp_path_factory.mktemp("shared")
    host = ConnectHost().start()
    env = {
        "CONNECT_CACHE_URL": cache_url,
        "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
    }
    if not os.environ.get("CONNECT_E2E_DATABASE_URL"):
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'shared.sqlite3'}"
    a = start_example_app(tmp_path_factory.mktemp("a"), host.keys_url, extra_env=env)
    b = start_example_app(tmp_path_factory.mktemp("b"), host.keys_url, extra_env=env)
    try:
        host.install(a.base_url + "/atlassian-connect.json")
        yield host, a, b
    finally:
        for app in (a, b):
            app.process.terminate()
            app.process.wait(timeout=10)
        host.stop()


def hello(app, host):
    token = host.request_token("GET", "/hello", account_id=next(iter(host.accounts)))
    return requests.get(f"{app.base_url}/hello", params={"jwt": token}, timeout=10)


def test_rotation_and_uninstall_reach_the_other_process(two_apps):
    host, _a, b = two_apps
    assert hello(b, host).status_code == 200  # B caches the tenant
    host.install(rotate_secret=True)  # through A
    assert hello(b, host).status_code == 200  # new secret, known to B
    host.uninstall()  # through A
    answered = time.monotonic()
    while (response := hello(b, host)).status_code == 200:
        assert time.monotonic() - answered <= 2.0, "B accepted the token 2 s after the uninstall"
        time.sleep(0.05)
    assert response.status_code == 401 and response.json()["code"] == "tenant_uninstalled"
