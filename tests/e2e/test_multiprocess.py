"""Several worker processes: bounded staleness, with either cache.

The example project under gunicorn with two worker processes, its tenant cache
either Django's default ``LocMemCache`` (process-local: a lifecycle call
answered by one worker reaches the other only through the database) or Redis
(``CONNECT_CACHE_URL``; a warm request reads nothing from it, each worker reads
the tenant's version key once per interval). Every worker must refuse an
uninstalled or disabled tenant's tokens within 2 s of the callback answering
(``TENANT_CACHE_REVALIDATE`` is 1 s by default). The Redis half needs
``CONNECT_TEST_REDIS_URL`` (`.ci/run` sets it) and is skipped with the reason
without it.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import requests

from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import start_example_app

pytestmark = pytest.mark.e2e

BOUND = 2.0


REDIS_URL = os.environ.get("CONNECT_TEST_REDIS_URL")


def redis_cache_url() -> str:
    """A database of its own on the test Redis (flushed), or skip saying why."""
    if not REDIS_URL:
        pytest.skip("CONNECT_TEST_REDIS_URL is not set (a Redis URL; `.ci/run` sets it)")
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/4"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at CONNECT_TEST_REDIS_URL={REDIS_URL} ({exc})")
    return url


@pytest.fixture(params=["locmem", "redis"])
def gunicorn_app(request, tmp_path):
    cache_url = redis_cache_url() if request.param == "redis" else ""
    host = ConnectHost().start()
    env = {
        "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        "CONNECT_CACHE_URL": cache_url,  # empty: the per-process LocMemCache
    }
    app = start_example_app(
        tmp_path, host.keys_url, extra_env=env, server="gunicorn", workers=2, threads=1
    )
    try:
        host.install(app.base_url + "/atlassian-connect.json")
        yield host, app, request.param
    finally:
        app.process.terminate()
        app.process.wait(timeout=10)
        host.stop()


def hello(app, host) -> requests.Response:
    token = host.request_token("GET", "/hello", account_id=next(iter(host.accounts)))
    # A new connection per request: gunicorn hands each to whichever worker accepts it.
    return requests.get(
        f"{app.base_url}/hello", params={"jwt": token}, timeout=10, headers={"Connection": "close"}
    )


def warm_every_worker(app, host) -> None:
    for _ in range(40):
        assert hello(app, host).status_code == 200


def staleness_after(change, app, host, code: str) -> float:
    """Seconds from the callback's answer until the last request still accepted."""
    change()
    answered = time.monotonic()
    last_accepted = 0.0
    refusals_after_bound = 0
    while time.monotonic() - answered < BOUND + 1.5:
        response = hello(app, host)
        elapsed = time.monotonic() - answered
        if response.status_code == 200:
            last_accepted = elapsed
            assert elapsed <= BOUND, f"a worker accepted the token {elapsed:.2f} s after"
        else:
            assert response.json()["code"] == code
            if elapsed > BOUND:
                refusals_after_bound += 1
    assert refusals_after_bound >= 10
    return last_accepted


def report(name: str, seconds: float) -> None:
    path = os.environ.get("CONNECT_STALENESS_REPORT")
    if path:
        data = json.load(open(path)) if os.path.exists(path) else {}
        data[name] = round(seconds, 3)
        json.dump(data, open(path, "w"), indent=1)


def test_uninstall_reaches_every_worker_within_two_seconds(gunicorn_app):
    host, app, cache = gunicorn_app
    warm_every_worker(app, host)
    window = staleness_after(host.uninstall, app, host, "tenant_uninstalled")
    report(f"uninstall_{cache}_2_workers", window)


def test_disable_reaches_every_worker_within_two_seconds(gunicorn_app):
    host, app, cache = gunicorn_app
    warm_every_worker(app, host)
    window = staleness_after(host.disable, app, host, "tenant_disabled")
    report(f"disable_{cache}_2_workers", window)


def test_rotation_reaches_every_worker_within_two_seconds(gunicorn_app):
    """The new secret is accepted by every worker (the old one too, for its grace period)."""
    host, app, cache = gunicorn_app
    warm_every_worker(app, host)
    host.install(rotate_secret=True)
    answered = time.monotonic()
    last_refused = 0.0
    accepted_after_bound = 0
    while time.monotonic() - answered < BOUND + 1.5:
        response = hello(app, host)  # signed with the new secret
        elapsed = time.monotonic() - answered
        if response.status_code == 200:
            accepted_after_bound += elapsed > BOUND
        else:
            assert response.json()["code"] == "signature_invalid"
            assert elapsed <= BOUND, f"a worker refused the new secret {elapsed:.2f} s after"
            last_refused = elapsed
    assert accepted_after_bound >= 10
    report(f"rotation_{cache}_2_workers", last_refused)
