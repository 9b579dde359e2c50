"""The example project's URLs plus an unauthenticated twin of /hello and of /api/me.

Each twin is inserted right after the route it copies, so resolving it costs
what resolving the real route costs; it answers the same body through the
same middleware, view machinery and template, without verifying a token.
"""

from __future__ import annotations

import os
from typing import Any

from connect_demo.views import MeView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from example_project.urls import urlpatterns as example_urlpatterns
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from django_atlassian_connect.connect.identity import ConnectAuth
from django_atlassian_connect.decorators import _allow_framing_by_tenant
from django_atlassian_connect.models import get_tenant_model

CLIENT_KEY = os.environ.get("BENCH_CLIENT_KEY", "jira:bench")
ACCOUNT_ID = os.environ.get("BENCH_ACCOUNT_ID", "5b10ac8d82e05b22cc7d4ef5")
_open_auth: dict[str, ConnectAuth] = {}


def _auth() -> ConnectAuth:
    """What a verified token would give, read once (the twin must not query per request)."""
    if "auth" not in _open_auth:
        tenant = get_tenant_model()._default_manager.get(client_key=CLIENT_KEY)
        claims: dict[str, Any] = {"iss": CLIENT_KEY, "sub": ACCOUNT_ID, "context": {}}
        _open_auth["auth"] = ConnectAuth(
            tenant=tenant, claims=claims, context_token=False, secret_fingerprint="-"
        )
    return _open_auth["auth"]


@require_GET
@csrf_exempt
def hello_open(request: HttpRequest) -> HttpResponse:
    """/hello without authentication: the same template, context and headers."""
    auth = _auth()
    request.connect = auth  # type: ignore[attr-defined]
    response = render(
        request,
        "connect_demo/hello.html",
        {"tenant": auth.tenant, "account_id": auth.account_id, "context": auth.context},
    )
    _allow_framing_by_tenant(response, auth)
    return response


class OpenMeView(MeView):
    """/api/me without authentication: same framework path, same answer size."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Any) -> Response:
        return Response({"clientKey": CLIENT_KEY, "accountId": ACCOUNT_ID})


def _with_twins(patterns: list[Any]) -> list[Any]:
    twins = {
        "hello": path("hello-open", hello_open, name="hello-open"),
        "api-me": path("api/me-open", OpenMeView.as_view(), name="api-me-open"),
    }
    result = []
    for pattern in patterns:
        result.append(pattern)
        twin = twins.pop(getattr(pattern, "name", None), None)
        if twin is not None:
            result.append(twin)
    result.extend(twins.values())  # a route renamed in the example: still served
    return result


urlpatterns = _with_twins(list(example_urlpatterns))
