"""The simulated site enforces a quota; end to end over HTTP, a second client and process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import requests
from django.db import connection

from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectAPIError, RateLimitBackoffError
from django_atlassian_connect.http import ratelimit
from django_atlassian_connect.http.ratelimit_headers import parse_headers
from django_atlassian_connect.testing.host import ConnectHost, QuotaPolicy
from django_atlassian_connect.testing.host.quota import Quota
from tests.conftest import install_into_live_server
from tests.http.ratelimit_support import NOW, REPO, FakeClock, iso

# -- the simulated site's quota ---------------------------------------------------------------


def test_the_quota_counts_points_and_answers_headers():
    clock = FakeClock(NOW)
    quota = Quota(QuotaPolicy(limit=5, window=60, near_limit_at=0.4), clock)
    answers = [quota.charge("jira:a") for _ in range(6)]
    assert [allowed for allowed, _ in answers] == [True] * 5 + [False]
    remaining = [int(h["X-RateLimit-Remaining"]) for _, h in answers]
    assert remaining == [4, 3, 2, 1, 0, 0]
    near = [h["X-RateLimit-NearLimit"] for _, h in answers]
    assert near == ["false", "false", "false", "true", "true", "true"]
    refused = answers[-1][1]
    assert (
        refused["Retry-After"] == "60" and refused["RateLimit-Reason"] == "jira-quota-global-based"
    )
    assert refused["X-RateLimit-Reset"] == iso(NOW + 60)
    assert "RateLimit-Reason" not in answers[0][1]
    assert quota.used("jira:a") == 5 and quota.used("jira:b") == 0  # per tenant
    clock.now += 60  # a new window
    assert quota.charge("jira:a")[0] and quota.used("jira:a") == 1


def test_the_quota_can_answer_with_the_reset_only_or_beta_headers():
    clock = FakeClock(NOW)
    quota = Quota(QuotaPolicy(limit=1, window=30, retry_after=False), clock)
    quota.charge("t")
    allowed, headers = quota.charge("t")
    assert not allowed and "Retry-After" not in headers and headers["X-RateLimit-Reset"]
    beta = Quota(QuotaPolicy(limit=0, beta=True), clock)
    allowed, headers = beta.charge("t")
    assert not allowed
    assert set(headers) == {
        "Beta-RateLimit-Limit",
        "Beta-RateLimit-Remaining",
        "Beta-RateLimit-Reset",
        "Beta-RateLimit-NearLimit",
        "Beta-RateLimit-Reason",
        "Beta-Retry-After",
    }
    state = parse_headers(headers, status=429, now=NOW)
    assert state is not None and state.limit == 0 and state.retry_after == 3600


# -- end to end: the simulated site over HTTP, a second client, a second process ---------------


@pytest.fixture
def quota_site(settings, live_server, tmp_path):
    """A simulated Jira site with the app installed, and the rate limits in a file cache."""
    with ConnectHost() as host:
        host.tenant = install_into_live_server(settings, live_server, host)
        settings.CACHES = {
            **settings.CACHES,
            "shared": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            },
        }
        settings.ATLASSIAN_CONNECT = {
            **settings.ATLASSIAN_CONNECT,
            "RATE_LIMIT_CACHE_ALIAS": "shared",
        }
        host.cache_dir = tmp_path / "cache"
        host.tmp = tmp_path
        yield host


def rest_statuses(host) -> list[int]:
    return [e["status"] for e in host.log if e.get("path", "").startswith("/rest/")]


def other_process(host, settings, script: str) -> dict:
    """Run ``script`` in a new Python process sharing the database and the file cache."""
    (host.tmp / "rl_settings.py").write_text(
        textwrap.dedent(
            """
            import json, os
            from tests.settings import *  # noqa: F403

            DATABASES = {"default": json.loads(os.environ["RL_DATABASE"])}
            CACHES = {
                "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                "shared": {
                    "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": os.environ["RL_CACHE_DIR"],
                },
            }
            ATLASSIAN_CONNECT = json.loads(os.environ["RL_CONNECT"])
            """
        )
    )
    database = {
        key: connection.settings_dict[key]
        for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rl_settings",
        "PYTHONPATH": os.pathsep.join([str(host.tmp), str(REPO)]),
        "RL_DATABASE": json.dumps(database),
        "RL_CACHE_DIR": str(host.cache_dir),
        "RL_CONNECT": json.dumps(settings.ATLASSIAN_CONNECT),
    }
    code = "import django\ndjango.setup()\n" + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=host.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


CALL_FROM_ANOTHER_PROCESS = """
    import json, time
    from django_atlassian_connect.connect.client import ConnectClient
    from django_atlassian_connect.exceptions import ConnectClientError
    from django_atlassian_connect.models import get_tenant_model

    tenant = get_tenant_model()._default_manager.get(client_key={client_key!r})
    started = time.monotonic()
    try:
        status = ConnectClient(tenant).as_app().get("/rest/api/3/myself").status_code
        print(json.dumps({{"status": status, "took": time.monotonic() - started}}))
    except ConnectClientError as exc:
        print(json.dumps({{"code": exc.code, "wait": getattr(exc, "wait", None)}}))
"""


@pytest.mark.django_db(transaction=True)
def test_e2e_a_spent_quota_holds_back_other_clients_and_processes(quota_site, settings):
    host = quota_site
    host.enforce_quota(QuotaPolicy(limit=4, window=3600, near_limit_at=0.5))
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    state = ConnectClient(host.tenant).rate_limit
    assert state is not None and (state.limit, state.remaining, state.near_limit) == (4, 3, False)
    for _ in range(3):
        session.get("/rest/api/3/myself")
    state = ConnectClient(host.tenant).rate_limit
    assert state is not None and state.remaining == 0 and state.near_limit
    with pytest.raises(ConnectAPIError) as excinfo:
        session.get("/rest/api/3/myself")
    assert excinfo.value.status_code == 429
    assert "jira-quota-global-based" in excinfo.value.hint
    assert rest_statuses(host) == [200, 200, 200, 200, 429]  # not retried: ~3600 s > 30 s
    # A second client in this process: refused, nothing sent.
    with pytest.raises(RateLimitBackoffError):
        ConnectClient(host.tenant).as_app().get("/rest/api/3/project/recent")
    # A second process, sharing only the file cache and the database: refused too.
    answer = other_process(
        host, settings, CALL_FROM_ANOTHER_PROCESS.format(client_key=host.client_key)
    )
    assert answer["code"] == "rate_limited_backoff" and answer["wait"] > 3000
    assert rest_statuses(host) == [200, 200, 200, 200, 429]  # the site saw nothing more
    # Housekeeping leaves the site alone too.
    from django_atlassian_connect import maintenance

    assert maintenance.verify_installations() == {
        "ok": 0,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
        "deferred_rate_limited": 1,
    }
    assert rest_statuses(host) == [200, 200, 200, 200, 429]


@pytest.mark.django_db(transaction=True)
def test_e2e_another_process_waits_for_the_reset_instead_of_hammering(quota_site, settings):
    host = quota_site
    # The 429 says when only by X-RateLimit-Reset.
    host.enforce_quota(QuotaPolicy(limit=1, window=6, retry_after=False))
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 0}
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    with pytest.raises(ConnectAPIError):
        session.get("/rest/api/3/myself")
    backoff = ratelimit.get_backoff(host.client_key)
    assert backoff is not None and 0 < backoff.remaining(time.time()) <= 7
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 3}
    answer = other_process(
        host, settings, CALL_FROM_ANOTHER_PROCESS.format(client_key=host.client_key)
    )
    assert answer["status"] == 200 and answer["took"] > 0
    # Exactly one more call, after the reset: no 429 in between.
    assert rest_statuses(host) == [200, 429, 200]
    assert time.time() >= backoff.until.timestamp()


@pytest.mark.django_db(transaction=True)
def test_e2e_the_retry_waits_for_the_reset_of_the_simulated_site(quota_site):
    host = quota_site
    host.enforce_quota(QuotaPolicy(limit=1, window=2, retry_after=False))
    session = ConnectClient(host.tenant).as_app()
    assert session.get("/rest/api/3/myself").status_code == 200
    started = time.monotonic()
    assert session.get("/rest/api/3/myself").status_code == 200  # urllib3 waited, retried
    assert rest_statuses(host) == [200, 429, 200]
    assert time.monotonic() - started >= 0.5
    assert host.quota is not None and host.quota.used(host.client_key) == 1


def test_a_refused_call_costs_no_points():
    with ConnectHost(quota=QuotaPolicy(limit=1)) as host:  # the app is not installed
        response = requests.get(host.base_url + "/rest/api/3/myself", timeout=10)
        assert host.quota is not None and host.quota.used(host.client_key) == 0
    assert response.status_code == 401
    assert not any(name.lower().startswith("x-ratelimit") for name in response.headers)
