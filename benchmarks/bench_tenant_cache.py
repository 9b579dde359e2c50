"""Warm path with bounded staleness: what the revalidation costs, and forged floods.

A fresh request per call (built and wrapped as DRF would), the default
``LocMemCache``. Compared in the same run:

- ``revalidate_1s``: the default ``TENANT_CACHE_REVALIDATE`` (1 s): one
  ``updated_at`` query per tenant per second, amortised over the calls;
- ``trust_forever``: the revalidation pushed out of reach (what the warm path
  cost before staleness was bounded);
- ``build_only``: building the request alone, to subtract.

And 1,000 forged tokens with a known ``iss``: database queries and time each.

Redis against the local cache, the same warm ``authenticate()`` of a fresh
request (building it included, as a server pays it), each best of 7, the two
caches measured alternately twice:

- ``local_warm``: the tenant cache on ``LocMemCache``;
- ``redis_warm``: on Redis (``BENCH_REDIS_URL``, default
  ``redis://127.0.0.1:6379/15``): the snapshot is trusted for
  ``TENANT_CACHE_REVALIDATE`` (1 s), so a warm request reads nothing from
  Redis; the version key is read once per tenant per second;
- ``redis_each_request``: Redis with ``TENANT_CACHE_REVALIDATE = 0``, one
  version read per request (what every request cost before);
- ``redis_vs_local``: ``redis_warm / local_warm`` (target <= 1.2);
  ``redis_vs_local_auth``: the same with building the request subtracted.

``redis_skipped`` says why the Redis figures are absent.
"""

from __future__ import annotations

import time

from benchmarks.bench_inbound import REDIS_URL, redis_available
from benchmarks.common import per_call_us, setup_django

APP_BASE_URL = "https://app.example.com"
SECRET = "ATCO" + "s" * 60
PATH = "/drf/page?project=DEMO&issue=DEMO-1&xdm_e=https%3A%2F%2Fbench.atlassian.net&cp=&lic=none"


def run() -> dict[str, float | str]:
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory, override_settings
    from django.test.utils import CaptureQueriesContext
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.request import Request

    from django_atlassian_connect.authentication import ConnectJWTAuthentication
    from django_atlassian_connect.connect import tenant_cache
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.testing import request_token

    tenant = Tenant.objects.create(
        client_key="jira:bench", app_key="k", base_url="https://bench.atlassian.net"
    )
    SharedSecret.for_secret(tenant, SECRET).save()

    def token(secret: str) -> str:
        return request_token(
            client_key="jira:bench",
            secret=secret,
            method="GET",
            url=PATH,
            app_base_url=APP_BASE_URL,
            account_id="5b10ac8d82e05b22cc7d4ef5",
            lifetime=3600,
        )

    good, forged = token(SECRET), token("forged-" + "f" * 40)
    factory = RequestFactory()
    auth = ConnectJWTAuthentication()

    def build(value: str) -> Request:
        return Request(factory.get(PATH, HTTP_AUTHORIZATION=f"JWT {value}"))

    def build_only() -> None:
        build(good)

    def authenticate() -> None:
        auth.authenticate(build(good))

    results: dict[str, float | str] = {"build_only": per_call_us(build_only)}
    for name, interval in (("revalidate_1s", 1.0), ("trust_forever", 1e9)):
        connect = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_REVALIDATE": interval}
        with override_settings(ATLASSIAN_CONNECT=connect):
            tenant_cache.clear_process_memory()
            authenticate()
            results[name] = per_call_us(authenticate, number=5000) - float(results["build_only"])

    tenant_cache.clear_process_memory()
    authenticate()  # warm
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(1000):
            try:
                auth.authenticate(build(forged))
            except AuthenticationFailed:
                pass
            else:  # pragma: no cover - a forged token must never pass
                raise AssertionError("a forged token was accepted")
    results["forged_1000_queries"] = len(queries)
    results["forged_us_each"] = (time.perf_counter() - started) / 1000 * 1e6

    why_not = redis_available()
    if why_not is not None:
        results["redis_skipped"] = why_not
        return results
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    }
    cells = (
        ("local_warm", "default", 1.0),
        ("redis_warm", "redis", 1.0),
        ("redis_each_request", "redis", 0.0),
    )
    best: dict[str, float] = {}
    for _ in range(2):  # alternately, so drift on the machine touches both alike
        for name, alias, interval in cells:
            connect = {
                **settings.ATLASSIAN_CONNECT,
                "TENANT_CACHE_ALIAS": alias,
                "TENANT_CACHE_REVALIDATE": interval,
            }
            with override_settings(CACHES=caches, ATLASSIAN_CONNECT=connect):
                tenant_cache.clear_process_memory()
                authenticate()  # warm: the snapshot read once, then kept
                took = per_call_us(authenticate, number=5000)
                best[name] = min(best.get(name, took), took)
    from django.core.cache import caches as django_caches

    with override_settings(CACHES=caches):
        tenant_cache.forget("jira:bench")
        django_caches["redis"].delete_many([tenant_cache.cache_key("jira:bench")])
    results.update(best)
    build = float(results["build_only"])
    results["redis_vs_local"] = best["redis_warm"] / best["local_warm"]
    results["redis_vs_local_auth"] = (best["redis_warm"] - build) / (best["local_warm"] - build)
    return results


if __name__ == "__main__":
    print(run())
