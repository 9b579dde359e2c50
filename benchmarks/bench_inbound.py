"""Inbound: ConnectJWTAuthentication.authenticate() on a warm cache vs the floor and atlassian-jwt."""

from __future__ import annotations

from benchmarks.common import per_call_us, setup_django

APP_BASE_URL = "https://app.example.com"
SECRET = "ATCO" + "s" * 60


def run() -> dict[str, float]:
    setup_django()
    import atlassian_jwt
    import jwt
    from django.test import RequestFactory
    from rest_framework.request import Request

    from django_atlassian_connect.authentication import ConnectJWTAuthentication
    from django_atlassian_connect.models import SharedSecret, Tenant
    from django_atlassian_connect.qsh import query_string_hash
    from django_atlassian_connect.testing import request_token

    tenant = Tenant.objects.create(
        client_key="jira:bench", app_key="k", base_url="https://bench.atlassian.net"
    )
    SharedSecret.for_secret(tenant, SECRET).save()
    path = "/drf/page?project=DEMO&issue=DEMO-1&xdm_e=https%3A%2F%2Fbench.atlassian.net&cp=&lic=none&tz=Europe%2FParis"
    token = request_token(
        client_key="jira:bench",
        secret=SECRET,
        method="GET",
        url=path,
        app_base_url=APP_BASE_URL,
        account_id="5b10ac8d82e05b22cc7d4ef5",
        lifetime=3600,
    )
    request = Request(RequestFactory().get(path, HTTP_AUTHORIZATION=f"JWT {token}"))
    auth = ConnectJWTAuthentication()
    assert auth.authenticate(request) is not None

    def ours() -> None:
        auth.authenticate(request)

    def floor() -> None:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["qsh"] == query_string_hash("GET", path)

    class Peer(atlassian_jwt.Authenticator):
        tenants = {"jira:bench": SECRET}

        def get_shared_secret(self, client_key: str) -> str:
            return self.tenants[client_key]

    peer = Peer()
    url = f"http://testserver{path}"
    headers = {"Authorization": f"JWT {token}"}
    assert peer.authenticate("GET", url, headers).client_key == "jira:bench"

    def peer_auth() -> None:
        peer.authenticate("GET", url, headers)

    return {
        "ours": per_call_us(ours),
        "floor": per_call_us(floor),
        "atlassian_jwt": per_call_us(peer_auth),
    }


if __name__ == "__main__":
    print(run())
