"""The example app's pages and API."""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import ConnectContextJWTAuthentication
from django_atlassian_connect.client import ConnectClient
from django_atlassian_connect.decorators import connect_jwt_required
from django_atlassian_connect.exceptions import (
    ConnectAPIError,
    ConnectClientError,
    ImpersonationError,
)
from django_atlassian_connect.permissions import IsConnectTenant
from django_atlassian_connect.signals import webhook_received

from .models import IssueEvent


@require_GET
@connect_jwt_required
def hello(request: HttpRequest) -> HttpResponse:
    """A general page, shown in the product's iframe (``?jwt=`` with the page's qsh)."""
    auth = request.connect
    return render(
        request,
        "connect_demo/hello.html",
        {"tenant": auth.tenant, "account_id": auth.account_id, "context": auth.context},
    )


class MeView(APIView):
    """Called by our own front end with a context token (``AP.context.getToken()``)."""

    authentication_classes = [ConnectContextJWTAuthentication]
    # IsConnectTenant, not DRF's IsAuthenticated: a call without a token is
    # answered token_missing with a hint, like every other refusal.
    permission_classes = [IsConnectTenant]

    def get(self, request):
        return Response(
            {"clientKey": request.auth.client_key, "accountId": request.user.account_id}
        )


@connect_jwt_required(context=True)
async def me_async(request: HttpRequest) -> JsonResponse:
    """``/api/me`` as an ``async def`` view (served natively under ASGI)."""
    return JsonResponse(
        {"clientKey": request.connect.client_key, "accountId": request.connect.account_id}
    )


@require_POST
@connect_jwt_required
def issue_created(request: HttpRequest) -> JsonResponse:
    """The ``jira:issue_created`` webhook declared in the descriptor."""
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse(
            {"detail": "The webhook body is not JSON.", "code": "payload_invalid"}, status=400
        )
    if not isinstance(payload, dict):
        payload = {}
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    tenant = request.connect.tenant
    IssueEvent.objects.create(
        tenant=tenant,
        event=str(payload.get("webhookEvent", "jira:issue_created"))[:100],
        issue_key=str(issue.get("key", ""))[:100],
    )
    webhook_received.send(
        sender=type(tenant),
        tenant=tenant,
        event="jira:issue_created",
        payload=payload,
        request=request,
    )
    return JsonResponse({"received": True}, status=200)


def _call(label: str, session_factory, path: str) -> dict:
    """One outbound call, its result or the error's explanation."""
    try:
        response = session_factory().get(path)
        return {"label": label, "ok": True, "status": response.status_code, "body": response.json()}
    except (ConnectAPIError, ConnectClientError, ImpersonationError) as exc:
        return {"label": label, "ok": False, "error": type(exc).__name__, "detail": str(exc)}


@require_GET
@connect_jwt_required
def product(request: HttpRequest) -> HttpResponse:
    """Calls the product's REST API as the app and as the current user."""
    auth = request.connect
    client = ConnectClient(auth.tenant)
    path = "/rest/api/user/current" if auth.tenant.is_confluence else "/rest/api/3/myself"
    calls = [_call("as the app", client.as_app, path)]
    if auth.account_id:
        calls.append(
            _call("as the user", lambda: client.as_user(auth.account_id, scopes=["READ"]), path)
        )
    if request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse({"calls": calls})
    # The page shows each answer as the JSON it was, pretty-printed (not a Python repr).
    for call in calls:
        if call["ok"]:
            call["json"] = json.dumps(call["body"], indent=2, sort_keys=True, ensure_ascii=False)
    return render(request, "connect_demo/product.html", {"tenant": auth.tenant, "calls": calls})
