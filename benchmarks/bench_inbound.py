"""Inbound: warm ``ConnectJWTAuthentication.authenticate()`` against the floor and atlassian-jwt.

Every timed call gets a FRESH request, built the way a WSGI server hands one
to Django (``WSGIRequest`` over a copy of the environ, then DRF's
``Request``): nothing parsed by an earlier call (``request.GET``, our
per-request query cache) can be reused.

- ``ours``: build the request, ``authenticate()`` it (warm tenant cache);
- ``floor``: build the same request, then what any correct implementation
  must at least do: read the header, one PyJWT HS256 ``decode`` and one
  query string hash of the request (our ``qsh.query_string_hash``);
- ``build``: building the request alone (in both figures above);
- ``ours_reused`` / ``floor_reused``: the old figures, one request object
  reused for every call (its parsed query cached after the first);
- ``atlassian_jwt``: the PyPI package's ``Authenticator`` (URL and headers
  given, no request to build);
- ``redis_ours`` / ``redis_floor``: the same with the tenant cache on Redis
  (``redis://127.0.0.1:6379/15``): one version-key read per request.
  ``redis_skipped`` says why they are absent.
"""

from __future__ import annotations

import io
import os

from benchmarks.common import per_call_us, setup_django

APP_BASE_URL = "https://app.example.com"
SECRET = "ATCO" + "s" * 60
PATH = "/drf/page"
QUERY = "project=DEMO&issue=DEMO-1&xdm_e=https%3A%2F%2Fbench.atlassian.net&cp=&lic=none&tz=Europe%2FParis"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available(url: str = REDIS_URL) -> str | None:
    """``None`` when Redis answers at ``url``, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed (pip install redis)"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:  # any failure means: no Redis to measure
        return f"no Redis at {url} ({type(exc).__name__}); start one with `.ci/services start`"
    return None


def run() -> dict[str, float | str]:
    setup_django()
    import atlassian_jwt
    import jwt
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIRequest
    from django.test import override_settings
    from rest_framework.request import Request

    from django_atlassian_connect.authentication import ConnectJWTAuthentication
    from django_atlassian_connect.connect import tenant_cache
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.qsh import query_string_hash
    from django_atlassian_connect.testing import request_token

    tenant = Tenant.objects.create(
        client_key="jira:bench", app_key="k", base_url="https://bench.atlassian.net"
    )
    SharedSecret.for_secret(tenant, SECRET).save()
    token = request_token(
        client_key="jira:bench",
        secret=SECRET,
        method="GET",
        url=f"{PATH}?{QUERY}",
        app_base_url=APP_BASE_URL,
        account_id="5b10ac8d82e05b22cc7d4ef5",
        lifetime=24 * 3600,
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": QUERY,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"JWT {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }

    def build() -> WSGIRequest:
        return WSGIRequest(dict(environ))

    auth = ConnectJWTAuthentication()
    reused = Request(build())

    def ours() -> None:
        auth.authenticate(Request(build()))

    def floor() -> None:
        request = build()
        raw = request.META["HTTP_AUTHORIZATION"].partition(" ")[2]
        claims = jwt.decode(raw, SECRET, algorithms=["HS256"])
        query = request.META["QUERY_STRING"]
        url = f"{request.path}?{query}" if query else request.path
        assert claims["qsh"] == query_string_hash(request.method, url)

    def ours_reused() -> None:
        auth.authenticate(reused)

    def floor_reused() -> None:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["qsh"] == query_string_hash("GET", f"{PATH}?{QUERY}")

    class Peer(atlassian_jwt.Authenticator):
        tenants = {"jira:bench": SECRET}

        def get_shared_secret(self, client_key: str) -> str:
            return self.tenants[client_key]

    peer = Peer()
    url = f"http://testserver{PATH}?{QUERY}"
    headers = {"Authorization": f"JWT {token}"}
    assert peer.authenticate("GET", url, headers).client_key == "jira:bench"

    def peer_auth() -> None:
        peer.authenticate("GET", url, headers)

    assert auth.authenticate(Request(build())) is not None
    results: dict[str, float | str] = {
        "build": per_call_us(build),
        "ours": per_call_us(ours),
        "floor": per_call_us(floor),
        "ours_reused": per_call_us(ours_reused),
        "floor_reused": per_call_us(floor_reused),
        "atlassian_jwt": per_call_us(peer_auth),
    }
    why_not = redis_available()
    if why_not is None:
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
            }
        }
        with override_settings(CACHES=caches):
            from django.core.cache import cache

            cache.clear()
            tenant_cache.clear_process_memory()
            assert auth.authenticate(Request(build())) is not None
            results["redis_ours"] = per_call_us(ours)
            results["redis_floor"] = per_call_us(floor)
            cache.clear()
    else:
        results["redis_skipped"] = why_not
    del settings  # imported for override_settings' sake only
    return results


if __name__ == "__main__":
    print(run())
