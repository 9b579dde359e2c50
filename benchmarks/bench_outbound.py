"""Outbound: signing one request as the app vs the floor and atlassian-jwt's encode_token."""

from __future__ import annotations

import time

from benchmarks.common import per_call_us, setup_django

SECRET = "ATCO" + "s" * 60


def run() -> dict[str, float]:
    setup_django()
    import atlassian_jwt
    import jwt
    import requests

    from django_atlassian_connect.connect.client import ConnectClient
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.qsh import query_string_hash

    tenant = Tenant.objects.create(
        client_key="jira:bench-out", app_key="k", base_url="https://bench.atlassian.net"
    )
    SharedSecret.for_secret(tenant, SECRET).save()
    session = ConnectClient(tenant).as_app()
    url = "https://bench.atlassian.net/rest/api/3/search?jql=project%20%3D%20DEMO&maxResults=50&fields=summary"
    prepared = requests.Request("GET", url).prepare()
    session.sign(prepared)  # warm the cache

    def ours() -> None:
        session.sign(prepared)

    def floor() -> None:
        now = int(time.time())
        jwt.encode(
            {
                "iss": "com.example.tests",
                "iat": now,
                "exp": now + 180,
                "qsh": query_string_hash("GET", url, tenant.base_url),
            },
            SECRET,
            algorithm="HS256",
        )

    def peer() -> None:
        atlassian_jwt.encode_token("GET", url, "com.example.tests", SECRET, timeout_secs=180)

    return {
        "ours": per_call_us(ours),
        "floor": per_call_us(floor),
        "atlassian_jwt": per_call_us(peer),
    }


if __name__ == "__main__":
    print(run())
