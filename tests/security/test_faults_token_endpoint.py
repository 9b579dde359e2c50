"""Fault injection, in process against a real socket: the token endpoint's transport faults.

5xx / timeout / malformed answer / dropped connection: a clear ``ImpersonationError``;
retried where safe (5xx, 429); the next call, once the endpoint recovers, gets a token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.support import TokenEndpoint, merge_report

pytestmark = [pytest.mark.e2e]

USER = "5b10ac8d82e05b22cc7d4ef5"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    merge_report(FIGURES, section="faults")


TOKEN_FAULTS = [
    # (id, script, expected code or None for success, requests made)
    ("502 then ok: retried", [502, "ok"], None, 2),
    ("503 x4: retries exhausted", [503, 503, 503, 503], "authorization_server_unavailable", 4),
    ("timeout: not retried", ["slow"], "authorization_server_unavailable", 1),
    ("connection dropped", ["reset"], "authorization_server_unavailable", 1),
    ("200 with HTML", ["malformed"], "token_response_invalid", 1),
    ("200 without access_token", ["no_token"], "token_response_invalid", 1),
]


@pytest.fixture
def token_endpoint(settings) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(delay=2.0) as endpoint:
        settings.ATLASSIAN_CONNECT = {
            **settings.ATLASSIAN_CONNECT,
            "AUTHORIZATION_SERVER_URL": endpoint.url,
            "HTTP_TIMEOUT": 0.5,
            "HTTP_RETRIES": 3,
        }
        yield endpoint


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "script,code,requests_made", [pytest.param(s, c, n, id=i) for i, s, c, n in TOKEN_FAULTS]
)
def test_token_endpoint_faults(installed_site, token_endpoint, script, code, requests_made):
    from django_atlassian_connect.connect import impersonation
    from django_atlassian_connect.exceptions import ImpersonationError
    from django_atlassian_connect.models import AccessToken, Tenant

    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    token_endpoint.script = [int(s) if isinstance(s, int) else s for s in script]
    # 5xx answers carry an HTML body, as a gateway's would.
    started = time.monotonic()
    if code is None:
        token = impersonation.get_access_token(tenant, USER, ["READ"])
        assert token == token_endpoint.issued[-1]
    else:
        with pytest.raises(ImpersonationError) as excinfo:
            impersonation.get_access_token(tenant, USER, ["READ"])
        error = excinfo.value
        assert error.code == code
        assert error.hint and str(error)  # says what happened and what to do
        assert installed_site.secret not in str(error)
        assert not AccessToken.objects.filter(token__isnull=False).exists()
    elapsed = time.monotonic() - started
    assert token_endpoint.requests == requests_made
    assert elapsed < 8
    # The endpoint recovers: the next call gets a token.
    token_endpoint.script = []
    assert impersonation.get_access_token(tenant, USER, ["READ"]) == token_endpoint.issued[-1]
    FIGURES.setdefault("token_endpoint", {})[" ".join(map(str, script))] = {
        "outcome": code or "token",
        "requests": requests_made,
        "seconds": round(elapsed, 2),
    }
