"""Fault injection: what the app does when what it depends on breaks.

Against the example project as a real server (key CDN, product, database,
Celery broker); the token endpoint's transport faults, in process against a
real socket, are in ``test_faults_token_endpoint``:

- install-key CDN down / slow / 5xx / garbage / oversized / dropped
  connection: 503 ``key_unavailable`` with ``Retry-After``, nothing written,
  the retry succeeds; an unknown kid is 401 ``key_invalid``, not 503;
- a database error in the middle of an install: rolled back, 503
  ``database_unavailable``, the failed delivery recorded when the database
  allows it, the retry succeeds;
- token endpoint 5xx through the running app: retried (503), or a clear
  ``ImpersonationError`` (500) and the next request works;
- the product's 429 with ``Retry-After``: honoured, or failed fast when too long;
- the Celery broker unreachable: requests still get user tokens on demand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_atlassian_connect.testing import InstallKeyPair, install_token
from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import free_port
from tests.security.support import (
    ACCESS_TOKEN,
    EVENT,
    SECRET,
    TENANT,
    KeyCDN,
    fingerprint,
    merge_report,
    new_secret,
)

pytestmark = [pytest.mark.e2e]

APP_KEY = "com.example.django-connect-demo"
USER = "5b10ac8d82e05b22cc7d4ef5"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    merge_report(FIGURES, section="faults")


class Faulty:
    """The example app wired to a faulty key CDN, a simulated site and a dead broker."""

    def __init__(self, cdn: KeyCDN, host: ConnectHost, running: Any, broker: str) -> None:
        self.cdn, self.host, self.running, self.broker = cdn, host, running, broker
        self.db = running.db

    def deliver(
        self, client_key: str, secret: str, key: InstallKeyPair, **body: Any
    ) -> requests.Response:
        payload = {
            "key": APP_KEY,
            "clientKey": client_key,
            "sharedSecret": secret,
            "baseUrl": "https://faults.atlassian.net",
            "productType": "jira",
            "oauthClientId": "oc-faults",
            "eventType": "installed",
            **body,
        }
        token = install_token(key, client_key=client_key, app_base_url=self.running.base_url)
        return requests.post(
            f"{self.running.base_url}/installed",
            json=payload,
            headers={"Authorization": f"JWT {token}"},
            timeout=60,
        )

    def product_page(self, account_id: str = USER) -> tuple[dict, float]:
        """``GET /product?format=json`` as the product's iframe would; (calls, seconds)."""
        url = self.host.page_url("product", account_id=account_id, format="json")
        started = time.monotonic()
        response = requests.get(url, timeout=120)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text[:500]
        return {call["label"]: call for call in response.json()["calls"]}, elapsed

    def forget_user_tokens(self) -> None:
        self.db.execute(f"DELETE FROM {ACCESS_TOKEN}")


@pytest.fixture(scope="module")
def faulty(app_factory) -> Iterator[Faulty]:
    broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with KeyCDN() as cdn, ConnectHost() as host:
        cdn.add(host.key)
        running = app_factory(
            "faults",
            cdn.url,
            CONNECT_AUTHORIZATION_SERVER_URL=host.url,
            CONNECT_ALLOWED_PRODUCT_HOSTS="*.atlassian.net,127.0.0.1",
            CONNECT_KEY_FETCH_TIMEOUT="1",
            CELERY_BROKER_URL=broker,
        )
        host.install(running.base_url + "/atlassian-connect.json")
        yield Faulty(cdn, host, running, broker)


# -- the install-key CDN ------------------------------------------------------------------


KEY_FAULTS = [
    # (id, how to break the CDN, status, code)
    ("down", {"stop": True}, 503, "key_unavailable"),
    ("slow (3 s, timeout 1 s)", {"mode": "slow", "delay": 3.0}, 503, "key_unavailable"),
    ("500", {"mode": "status", "status": 500}, 503, "key_unavailable"),
    ("502", {"mode": "status", "status": 502}, 503, "key_unavailable"),
    ("garbage", {"mode": "garbage"}, 503, "key_unavailable"),
    ("oversized (100 kB)", {"mode": "huge"}, 503, "key_unavailable"),
    ("connection dropped", {"mode": "reset"}, 503, "key_unavailable"),
    ("unknown kid (404)", {"mode": "status", "status": 404}, 401, "key_invalid"),
]


@pytest.mark.parametrize(
    "fault,status,code", [pytest.param(f, s, c, id=i) for i, f, s, c in KEY_FAULTS]
)
def test_key_cdn_fault_changes_nothing_and_the_retry_succeeds(faulty, fault, status, code):
    cdn, db = faulty.cdn, faulty.db
    client_key = f"jira:{uuid.uuid4()}"
    first_secret = new_secret()
    # An existing tenant, installed while the CDN works.
    assert faulty.deliver(client_key, first_secret, faulty.host.key).status_code == 204
    fresh_key = cdn.add(InstallKeyPair())  # a kid the app has not fetched yet
    before, last_event = db.snapshot(), db.last_event_id()

    if fault.get("stop"):
        cdn.stop()
    cdn.mode = fault.get("mode", "ok")
    cdn.status = fault.get("status", 500)
    cdn.delay = fault.get("delay", 3.0)
    started = time.monotonic()
    try:
        response = faulty.deliver(
            client_key, new_secret(), fresh_key, baseUrl="https://renamed.atlassian.net"
        )
    finally:
        elapsed = time.monotonic() - started
        cdn.mode = "ok"
        if not cdn.running:
            cdn.start()

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if status == 503:
        assert response.headers["Retry-After"] == "30"
    assert elapsed < 2.5  # a slow CDN costs KEY_FETCH_TIMEOUT (1 s), not its delay
    assert db.snapshot() == before, "a failed key fetch wrote something"
    events = db.events_after(last_event)
    assert [(e["accepted"], e["status_code"], e["error_code"]) for e in events] == [
        (False, status, code)
    ]

    # The product (or the admin) retries: it now succeeds and rotates the secret.
    retry_secret = new_secret()
    retry = faulty.deliver(
        client_key, retry_secret, fresh_key, baseUrl="https://renamed.atlassian.net"
    )
    assert retry.status_code == 204, retry.text
    current = db.rows(
        f"SELECT s.fingerprint, t.base_url FROM {SECRET} s JOIN {TENANT} t ON t.id = s.tenant_id "
        "WHERE t.client_key = ? AND s.retired_at IS NULL",
        (client_key,),
    )
    assert current == [(fingerprint(retry_secret), "https://renamed.atlassian.net")]
    FIGURES.setdefault("key_cdn", {})[
        fault.get("mode", "down") + (f" {fault['status']}" if "status" in fault else "")
    ] = {"status": status, "code": code, "seconds": round(elapsed, 2), "retry": 204}


# -- the database ---------------------------------------------------------------------------

TRIGGER = "dac_injected_fault"


def add_failing_trigger(db: Any, table: str) -> None:
    if db.vendor == "sqlite":
        db.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'injected fault: {table} unavailable'); END;"
        )
    else:
        db.execute(
            f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'injected fault: {table} unavailable'; END $$"
        )
        db.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )


def drop_failing_trigger(db: Any, table: str) -> None:
    if db.vendor == "sqlite":
        db.execute(f"DROP TRIGGER IF EXISTS {TRIGGER};")
    else:
        db.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
        db.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")


@pytest.mark.parametrize(
    "table,recorded",
    [
        pytest.param(SECRET, True, id="the secret insert fails: failure recorded"),
        pytest.param(EVENT, False, id="the event insert fails: nothing can be recorded"),
    ],
)
def test_database_error_mid_install_rolls_back(faulty, table, recorded):
    db = faulty.db
    client_key = f"jira:{uuid.uuid4()}"
    assert faulty.deliver(client_key, new_secret(), faulty.host.key).status_code == 204
    before, last_event = db.snapshot(), db.last_event_id()
    add_failing_trigger(db, table)
    try:
        # A rotation that also renames the site: the tenant row is updated
        # before the secret insert fails, so a partial commit would show.
        response = faulty.deliver(
            client_key,
            new_secret(),
            faulty.host.key,
            baseUrl="https://renamed-mid-install.atlassian.net",
            description="must not be stored",
        )
    finally:
        drop_failing_trigger(db, table)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "database_unavailable" and response.headers["Retry-After"]
    assert db.snapshot() == before, "the failed install left a partial write"
    events = db.events_after(last_event)
    if recorded:
        assert [(e["accepted"], e["status_code"], e["error_code"]) for e in events] == [
            (False, 503, "database_unavailable")
        ]
    else:
        assert events == []
        assert "could not record a refused installed delivery" in faulty.running.log()
    retry_secret = new_secret()
    retry = faulty.deliver(
        client_key, retry_secret, faulty.host.key, baseUrl="https://renamed.atlassian.net"
    )
    assert retry.status_code == 204, retry.text
    assert db.rows(
        f"SELECT s.fingerprint FROM {SECRET} s JOIN {TENANT} t ON t.id = s.tenant_id "
        "WHERE t.client_key = ? AND s.retired_at IS NULL",
        (client_key,),
    ) == [(fingerprint(retry_secret),)]
    FIGURES.setdefault("database", {})[table] = {
        "status": 503,
        "code": "database_unavailable",
        "event_recorded": recorded,
        "retry": 204,
    }


# -- the product and the token endpoint, through the running app -----------------------------


def test_product_429_retry_after_is_honoured(faulty):
    host = faulty.host
    host.rate_limit = [1]
    calls, elapsed = faulty.product_page()
    assert calls["as the app"]["ok"], calls
    assert calls["as the app"]["body"]["accountType"] == "app"
    statuses = [e["status"] for e in host.log if e.get("path") == "/rest/api/3/myself"]
    assert statuses[-3:-1] == [429, 200]  # then the user's call
    assert elapsed >= 1.0
    FIGURES["product_429_retry_after_1s"] = {
        "outcome": "200 after the wait",
        "seconds": round(elapsed, 2),
    }


def test_token_endpoint_503_is_retried(faulty):
    host = faulty.host
    faulty.forget_user_tokens()
    grants = host.grants
    host.fail_token_endpoint = [503]
    calls, elapsed = faulty.product_page()
    assert calls["as the user"]["ok"], calls["as the user"]
    assert calls["as the user"]["body"]["accountId"] == USER
    assert host.grants - grants == 2
    FIGURES["token_endpoint_503_once"] = {
        "outcome": "retried, token obtained",
        "requests": 2,
        "seconds": round(elapsed, 2),
    }


def test_token_endpoint_500_is_a_clear_error_and_the_next_request_works(faulty):
    host = faulty.host
    faulty.forget_user_tokens()
    grants = host.grants
    host.fail_token_endpoint = [500]
    calls, _ = faulty.product_page()
    user_call = calls["as the user"]
    assert not user_call["ok"] and user_call["error"] == "ImpersonationError"
    assert "500" in user_call["detail"] and "refused to issue a token" in user_call["detail"]
    assert host.grants - grants == 1  # a 500 is not retried
    calls, _ = faulty.product_page()
    assert calls["as the user"]["ok"]


def test_unreachable_celery_broker_does_not_block_user_tokens(faulty):
    out = faulty.running.shell(
        "from django.conf import settings; "
        "print(settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL)"
    )
    assert out.strip().splitlines()[-1] == f"False {faulty.broker}"
    faulty.forget_user_tokens()
    grants = faulty.host.grants
    calls, elapsed = faulty.product_page()
    assert calls["as the user"]["ok"] and calls["as the user"]["body"]["accountId"] == USER
    assert faulty.host.grants - grants == 1  # obtained on demand, in the request
    assert elapsed < 5
    FIGURES["celery_broker_unreachable"] = {
        "outcome": "user token obtained in the request",
        "seconds": round(elapsed, 2),
    }


# Last of the module: the app then holds back every call to the site for 3600 s.
def test_product_429_with_a_long_retry_after_fails_fast(faulty):
    faulty.host.rate_limit = [3600]
    calls, elapsed = faulty.product_page()
    app_call = calls["as the app"]
    assert not app_call["ok"] and app_call["error"] == "ConnectAPIError"
    assert "429" in app_call["detail"] and "Retry-After 3600" in app_call["detail"]
    # Every later call to the site waits too (all processes): refused, nothing sent.
    user_call = calls["as the user"]
    assert not user_call["ok"] and user_call["error"] == "RateLimitBackoffError", user_call
    statuses = [e["status"] for e in faulty.host.log if e.get("path") == "/rest/api/3/myself"]
    assert statuses[-1] == 429
    assert elapsed < 5
    FIGURES["product_429_retry_after_3600s"] = {
        "outcome": "ConnectAPIError at once (MAX_RETRY_AFTER 30 s)",
        "seconds": round(elapsed, 2),
    }
