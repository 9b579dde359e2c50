"""Scale: authentication latency with 10 vs 100 000 tenants; install latency at 100 000."""

from __future__ import annotations

import json
import statistics
import time

from benchmarks.common import median_us, per_call_us, setup_django

BIG = 100_000
APP_BASE_URL = "https://app.example.com"


def run(big: int = BIG) -> dict[str, float]:
    setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client, RequestFactory
    from django.test.utils import override_settings
    from rest_framework.request import Request

    from django_atlassian_connect.authentication import ConnectJWTAuthentication
    from django_atlassian_connect.connect import install_keys, tenant_cache
    from django_atlassian_connect.crypto import fingerprint
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.testing import (
        InstallKeyPair,
        InstallKeyServer,
        install_token,
        request_token,
    )

    def add_tenants(start: int, stop: int) -> None:
        batch = 5000
        for low in range(start, stop, batch):
            high = min(low + batch, stop)
            tenants = Tenant.objects.bulk_create(
                Tenant(
                    client_key=f"jira:t{i:06d}",
                    app_key="com.example.tests",
                    base_url=f"https://t{i:06d}.atlassian.net",
                )
                for i in range(low, high)
            )
            SharedSecret.objects.bulk_create(
                SharedSecret(
                    tenant=t,
                    secret=f"secret-{t.client_key}-" + "x" * 40,
                    fingerprint=fingerprint(f"s{t.pk}"),
                )
                for t in tenants
            )

    path = "/drf/page?project=DEMO&xdm_e=https%3A%2F%2Ft000001.atlassian.net"
    token = request_token(
        client_key="jira:t000001",
        secret="secret-jira:t000001-" + "x" * 40,
        method="GET",
        url=path,
        app_base_url=APP_BASE_URL,
        lifetime=3600,
    )
    request = Request(RequestFactory().get(path, HTTP_AUTHORIZATION=f"JWT {token}"))
    auth = ConnectJWTAuthentication()

    def warm() -> None:
        assert auth.authenticate(request) is not None

    def cold() -> None:
        cache.clear()
        tenant_cache.clear_process_memory()
        assert auth.authenticate(request) is not None

    results: dict[str, float] = {}
    add_tenants(0, 10)
    results["warm_10"] = per_call_us(warm)
    results["cold_10"] = median_us(cold, runs=300)
    started = time.monotonic()
    add_tenants(10, big)
    results["fill_seconds"] = time.monotonic() - started
    results["tenants"] = Tenant.objects.count()
    results["warm_big"] = per_call_us(warm)
    results["cold_big"] = median_us(cold, runs=300)

    # Signed installs of new tenants into a table of `big` rows.
    key = InstallKeyPair()
    with (
        InstallKeyServer(key) as server,
        override_settings(
            ATLASSIAN_CONNECT={**settings.ATLASSIAN_CONNECT, "INSTALL_KEYS_URL": server.url}
        ),
    ):
        install_keys.clear_memory_cache()
        client = Client()
        samples = []
        for i in range(60):
            client_key = f"jira:new{i:04d}"
            body = {
                "key": "com.example.tests",
                "clientKey": client_key,
                "sharedSecret": "s" * 48,
                "baseUrl": f"https://new{i:04d}.atlassian.net",
                "productType": "jira",
                "eventType": "installed",
            }
            token = install_token(key, client_key=client_key, app_base_url=APP_BASE_URL)
            start = time.perf_counter()
            response = client.post(
                "/installed",
                json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"JWT {token}",
            )
            samples.append((time.perf_counter() - start) * 1e3)
            assert response.status_code == 204, response.content
        results["install_ms_big"] = statistics.median(
            samples[10:]
        )  # the first ones warm the key cache
    return results


if __name__ == "__main__":
    import sys

    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else BIG))
