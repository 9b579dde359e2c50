"""Impersonation: grant requests for 10 000 as_user calls over 50 users from 4 processes."""

from __future__ import annotations

import multiprocessing
import os
import tempfile

from benchmarks.common import setup_django

USERS = 50
PROCESSES = 4
CALLS = 10_000


def _worker(db_path: str, host_url: str, users: list[str], calls: int, seed: int) -> int:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import random

    import django
    import requests

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "AUTHORIZATION_SERVER_URL": host_url,
        "ALLOWED_PRODUCT_HOSTS": ["127.0.0.1"],
    }
    from django_atlassian_connect.connect.client import ConnectClient
    from django_atlassian_connect.models import Tenant

    tenant = Tenant.objects.get(client_key="jira:bench-imp")
    client = ConnectClient(tenant)
    rng = random.Random(seed)
    for _ in range(calls):
        session = client.as_user(rng.choice(users), scopes=["READ"])
        session.sign(requests.Request("GET", tenant.base_url + "/rest/api/3/myself").prepare())
    connection.close()
    return calls


def run() -> dict[str, int]:
    db_path = os.path.join(tempfile.mkdtemp(prefix="dac-bench-imp-"), "imp.sqlite3")
    os.environ["DAC_SQLITE_IMMEDIATE"] = "1"
    setup_django(db_path)
    from django.db import connection

    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.testing.host import Account, ConnectHost, SecretRecord

    users = [f"5b10ac8d82e05b22cc7d{i:04d}" for i in range(USERS)]
    host = ConnectHost(accounts=[Account(u, f"User {i}") for i, u in enumerate(users)]).start()
    host.descriptor = {
        "key": "com.example.tests",
        "baseUrl": "http://127.0.0.1:1",
        "lifecycle": {},
        "scopes": ["READ", "ACT_AS_USER"],
    }
    secret = "ATCO" + "i" * 60
    host.secrets = [SecretRecord(secret, 0.0)]
    host.installed = True
    tenant = Tenant.objects.create(
        client_key="jira:bench-imp",
        app_key="com.example.tests",
        base_url=host.base_url,
        oauth_client_id=host.oauth_client_id,
    )
    SharedSecret.for_secret(tenant, secret).save()
    connection.close()
    ctx = multiprocessing.get_context("fork")
    per_process = CALLS // PROCESSES
    with ctx.Pool(PROCESSES) as pool:
        done = sum(
            pool.starmap(
                _worker,
                [(db_path, host.url, users, per_process, seed) for seed in range(PROCESSES)],
            )
        )
    host.stop()
    return {"calls": done, "users": USERS, "processes": PROCESSES, "grants": host.grants}


if __name__ == "__main__":
    print(run())
