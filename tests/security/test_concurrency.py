"""Concurrency on PostgreSQL, against the example project under gunicorn (2 processes x 32 threads).

- 50 signed ``installed`` deliveries for one clientKey, each with its own
  secret, fired at once: afterwards one tenant, one current secret (the one
  of the last committed delivery) and every accepted secret exactly once in
  the history, in commit order.
- The same with ``installed`` and ``uninstalled`` interleaved.
- Impersonation: several processes ask for the same user's token at once;
  the token endpoint sees one grant per (tenant, user, scopes).

``CONNECT_RELIABILITY_REPORT=path.json`` writes the measured figures.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from django_atlassian_connect.testing import install_token
from django_atlassian_connect.testing.host import ConnectHost
from tests.e2e.conftest import MANAGE
from tests.security.support import (
    EVENT,
    SECRET,
    TENANT,
    fingerprint,
    merge_report,
    new_secret,
    postgres_only,
    require_postgres,
)

pytestmark = [pytest.mark.e2e, *postgres_only]

APP_KEY = "com.example.django-connect-demo"
DELIVERIES = 50
USER = "5b10ac8d82e05b22cc7d4ef5"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    merge_report(FIGURES)


@pytest.fixture(scope="module")
def pg_app(app_factory) -> Iterator[tuple[ConnectHost, Any]]:
    require_postgres()
    with ConnectHost() as host:
        # gunicorn: 2 worker processes x 32 threads, so deliveries race across
        # processes too (runserver's accept backlog of 10 resets a burst of 50).
        running = app_factory(
            "concurrency",
            host.keys_url,
            server="gunicorn",
            CONNECT_AUTHORIZATION_SERVER_URL=host.url,
            CONNECT_ALLOWED_PRODUCT_HOSTS="*.atlassian.net,127.0.0.1",
        )
        assert running.db.vendor == "postgresql"
        yield host, running


def delivery(host: ConnectHost, running: Any, client_key: str, event: str, iat: int) -> dict:
    """One lifecycle delivery, with its own freshly signed install token."""
    secret = new_secret() if event == "installed" else None
    body = {
        "key": APP_KEY,
        "clientKey": client_key,
        "baseUrl": "https://race.atlassian.net",
        "productType": "jira",
        "eventType": event,
        "oauthClientId": "oc-race",
    }
    if secret:
        body["sharedSecret"] = secret
    # A unique jti: no two tokens are equal even when minted in the same second.
    token = install_token(
        host.key,
        client_key=client_key,
        app_base_url=running.base_url,
        path=f"/{event}",
        now=iat,
        jti=uuid.uuid4().hex,
    )
    return {"event": event, "secret": secret, "body": body, "token": token}


def fire(running: Any, deliveries: list[dict]) -> float:
    """Send every delivery at the same moment from its own thread; the wall time."""
    barrier = threading.Barrier(len(deliveries))

    def send(item: dict) -> None:
        barrier.wait(timeout=60)
        started = time.monotonic()
        response = requests.post(
            f"{running.base_url}/{item['event']}",
            json=item["body"],
            headers={"Authorization": f"JWT {item['token']}"},
            timeout=120,
        )
        item["elapsed"] = time.monotonic() - started
        item["status"] = response.status_code
        item["response"] = response.text[:300]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        list(pool.map(send, deliveries))
    return time.monotonic() - started


def check_history(running: Any, client_key: str, installs: list[dict]) -> dict[str, Any]:
    """One tenant, one current secret (the last committed), the complete history in order."""
    db = running.db
    tenants = db.rows(f"SELECT id, is_installed FROM {TENANT} WHERE client_key = ?", (client_key,))
    assert len(tenants) == 1, tenants
    tenant_id, is_installed = tenants[0]
    secrets = db.rows(
        f"SELECT fingerprint, became_current_at, retired_at FROM {SECRET} "
        "WHERE tenant_id = ? ORDER BY became_current_at, id",
        (tenant_id,),
    )
    events = db.rows(
        f"SELECT id, event_type, secret_fingerprint FROM {EVENT} "
        "WHERE client_key = ? AND accepted ORDER BY id",
        (client_key,),
    )
    expected = Counter(fingerprint(item["secret"]) for item in installs)
    stored = Counter(row[0] for row in secrets)
    # Complete: every accepted delivery's secret is in the history exactly once.
    assert stored == expected
    assert set(stored.values()) == {1}
    current = [row for row in secrets if row[2] is None]
    assert len(current) == 1, "exactly one current secret"
    accepted_installs = [row for row in events if row[1] == "installed"]
    assert len(accepted_installs) == len(installs)
    # The current secret is the secret of the last committed delivery. Events
    # are written under the tenant's row lock, so their ids follow commit order.
    assert current[0][0] == accepted_installs[-1][2]
    # The history is in commit order, and each secret was retired at the moment
    # its successor became current.
    assert [row[0] for row in secrets] == [row[2] for row in accepted_installs]
    for previous, following in itertools.pairwise(secrets):
        assert previous[2] is not None and previous[2] == following[1]
    return {
        "tenants": len(tenants),
        "current_secrets": len(current),
        "secrets_in_history": len(secrets),
        "accepted_events": len(events),
        "is_installed": bool(is_installed),
        "last_event": events[-1][1],
    }


def test_fifty_concurrent_installs_leave_one_tenant_and_the_last_secret(pg_app):
    host, running = pg_app
    client_key = f"jira:{uuid.uuid4()}"
    iat = int(time.time())
    deliveries = [delivery(host, running, client_key, "installed", iat) for _ in range(DELIVERIES)]
    wall = fire(running, deliveries)  # the tenant does not exist yet: 50 first installs race
    statuses = Counter(item["status"] for item in deliveries)
    assert statuses == {204: DELIVERIES}, [d["response"] for d in deliveries if d["status"] != 204]
    figures = check_history(running, client_key, deliveries)
    assert figures["is_installed"]
    FIGURES["concurrent_installs"] = {
        "deliveries": DELIVERIES,
        "statuses": dict(statuses),
        "wall_seconds": round(wall, 2),
        "slowest_seconds": round(max(d["elapsed"] for d in deliveries), 2),
        **figures,
    }
    # The winner's secret works; so does a second wave on the now existing tenant.
    second = [delivery(host, running, client_key, "installed", iat) for _ in range(DELIVERIES)]
    fire(running, second)
    assert Counter(item["status"] for item in second) == {204: DELIVERIES}
    check_history(running, client_key, deliveries + second)


def test_interleaved_installs_and_uninstalls(pg_app):
    host, running = pg_app
    client_key = f"jira:{uuid.uuid4()}"
    iat = int(time.time())
    first = delivery(host, running, client_key, "installed", iat)
    fire(running, [first])
    assert first["status"] == 204
    rng = random.Random(20261123)
    events = ["installed"] * 30 + ["uninstalled"] * 20
    rng.shuffle(events)
    deliveries = [delivery(host, running, client_key, event, iat) for event in events]
    wall = fire(running, deliveries)
    statuses = Counter(item["status"] for item in deliveries)
    assert statuses == {204: len(deliveries)}, [
        d["response"] for d in deliveries if d["status"] != 204
    ]
    installs = [first] + [item for item in deliveries if item["event"] == "installed"]
    figures = check_history(running, client_key, installs)
    # The tenant's state is that of the last committed delivery.
    assert figures["is_installed"] == (figures["last_event"] == "installed")
    FIGURES["interleaved"] = {
        "deliveries": len(deliveries),
        "installs": 30,
        "uninstalls": 20,
        "statuses": dict(statuses),
        "wall_seconds": round(wall, 2),
        **figures,
    }


GRANT_CODE = """
import hashlib, os, pathlib, time
from django_atlassian_connect import oauth
from django_atlassian_connect.models import get_tenant_model
tenant = get_tenant_model()._default_manager.get(client_key=os.environ["DAC_CLIENT_KEY"])
barrier = pathlib.Path(os.environ["DAC_BARRIER"])
(barrier / f"ready-{os.getpid()}").touch()
deadline = time.monotonic() + 90
while len(list(barrier.glob("ready-*"))) < int(os.environ["DAC_PROCESSES"]):
    assert time.monotonic() < deadline, "the other processes did not start"
    time.sleep(0.005)
token = oauth.get_access_token(tenant, os.environ["DAC_ACCOUNT"], os.environ["DAC_SCOPES"].split())
print("TOKEN", os.environ["DAC_SCOPES"] or "-", hashlib.sha256(token.encode()).hexdigest()[:16])
"""


def test_one_grant_per_user_and_scopes_across_processes(pg_app, tmp_path):
    host, running = pg_app
    host.install(running.base_url + "/atlassian-connect.json")
    grants_before = host.grants
    scope_sets = ["READ"] * 4 + [""] * 4
    env_base = {
        **running.env,
        "DAC_CLIENT_KEY": host.client_key,
        "DAC_BARRIER": str(tmp_path),
        "DAC_PROCESSES": str(len(scope_sets)),
        "DAC_ACCOUNT": USER,
    }
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, str(MANAGE), "shell", "-c", GRANT_CODE],
            env={**env_base, "DAC_SCOPES": scopes},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for scopes in scope_sets
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
        outputs.append(out.strip().splitlines()[-1].split())
    wall = time.monotonic() - started
    tokens = {
        scopes: {hashed for _, s, hashed in outputs if s == scopes} for scopes in ("READ", "-")
    }
    # Every process got the same token for the same (user, scopes)...
    assert all(len(hashes) == 1 for hashes in tokens.values()), tokens
    assert tokens["READ"] != tokens["-"]
    # ...from exactly one grant each.
    assert host.grants - grants_before == 2
    rows = running.db.rows(
        "SELECT a.scopes FROM django_atlassian_connect_accesstoken a "
        f"JOIN {TENANT} t ON t.id = a.tenant_id WHERE t.client_key = ? ORDER BY a.scopes",
        (host.client_key,),
    )
    assert rows == [("",), ("READ",)]
    FIGURES["grants_across_processes"] = {
        "processes": len(scope_sets),
        "scope_sets": 2,
        "grants": host.grants - grants_before,
        "token_rows": len(rows),
        "wall_seconds": round(wall, 2),
    }
