"""The example app calling Jira as a Django user who linked their Atlassian account (3LO).

The library routes ``GET /oauth/connect`` and ``GET /oauth/callback``
(``include("django_atlassian_connect.oauth_urls")``); these two views use the grant:

- ``GET /oauth/resources``: ``{"resources": [{"id", "url", "name"}]}``, the sites
  of the logged-in user's linked account(s) (``id`` is the cloudId);
- ``GET /oauth/myself?cloudId=…``: Jira's ``/rest/api/3/myself`` through
  ``{API_URL}/ex/jira/{cloudId}`` with the user's access token, refreshed
  first when it runs out.

Errors are JSON ``{"detail", "code", "hint"}``: 409 when the user has no usable
link (``oauth_grant_revoked``: Atlassian refused the refresh token, link again;
``oauth_grant_expired``; ``oauth_not_linked``), 404 for a site the link does not
cover, 400 without ``cloudId``, 503 (``Retry-After``) when Atlassian could not
be reached or rate-limited us, 502 for the product's other errors.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.threelo.client import OAuthClient
from django_atlassian_connect.threelo.grants import sites_of

logger = logging.getLogger("connect_demo")

#: No usable grant: the user must link (again). Nothing was sent.
RELINK_CODES = frozenset({"oauth_grant_revoked", "oauth_grant_expired", "oauth_not_linked"})
STATUS_FOR_CODE = {"oauth_site_not_linked": 404, "oauth_token_failed": 503}
RETRY_AFTER = "30"


def _error(status: int, code: str, detail: str, hint: str = "", **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if hint:
        body["hint"] = hint
    body.update(extra)
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = RETRY_AFTER
    return response


@require_GET
@login_required
def resources(request: HttpRequest) -> JsonResponse:
    """``GET /oauth/resources``: the sites the user's linked account gives access to."""
    seen: dict[str, dict[str, str]] = {}
    for site in sites_of(request.user).order_by("name", "cloud_id"):
        seen.setdefault(site.cloud_id, {"id": site.cloud_id, "url": site.url, "name": site.name})
    return JsonResponse({"resources": list(seen.values())})


@require_GET
@login_required
def myself(request: HttpRequest) -> JsonResponse:
    """``GET /oauth/myself?cloudId=…``: Jira's myself as the logged-in user."""
    cloud_id = request.GET.get("cloudId", "")
    if not cloud_id:
        return _error(
            400,
            "parameter_missing",
            "cloudId is required.",
            "Pass one of the ids GET /oauth/resources lists.",
        )
    try:
        client = OAuthClient.for_user(request.user, cloud_id)
        response = client.session().get("/rest/api/3/myself")
    except ConnectAPIError as exc:
        logger.warning(
            "3LO /myself for user %s: the product answered %s", request.user.pk, exc.status_code
        )
        status = 503 if exc.code == "api_rate_limited" else 502
        return _error(status, exc.code, exc.detail, exc.hint, productStatus=exc.status_code)
    except ConnectClientError as exc:
        logger.info("3LO /myself for user %s refused: %s", request.user.pk, exc.code)
        status = 409 if exc.code in RELINK_CODES else STATUS_FOR_CODE.get(exc.code, 502)
        return _error(status, exc.code, exc.detail, exc.hint)
    except requests.RequestException as exc:
        logger.warning(
            "3LO /myself for user %s: gateway unreachable (%s)", request.user.pk, type(exc).__name__
        )
        return _error(
            503,
            "api_error",
            f"The API gateway could not be reached ({type(exc).__name__}).",
            "Retry in a moment; check outbound access to CONNECT_API_URL.",
        )
    try:
        body = response.json()
    except ValueError:
        return _error(502, "api_error", "The product's answer is not JSON.")
    return JsonResponse(body, status=200, safe=False)
