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
be reached, rate-limited us or its backoff still runs (``rate_limited_backoff``:
``Retry-After`` is what is left of it), 502 for the product's other errors.
The library's ``responses.error_response`` builds these answers, with the
status of ``responses.client_error_status``.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.responses import error_response
from django_atlassian_connect.threelo.client import OAuthClient
from django_atlassian_connect.threelo.grants import sites_of

logger = logging.getLogger("connect_demo")


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
        return JsonResponse(
            {
                "detail": "cloudId is required.",
                "code": "parameter_missing",
                "hint": "Pass one of the ids GET /oauth/resources lists.",
            },
            status=400,
        )
    try:
        client = OAuthClient.for_user(request.user, cloud_id)
        response = client.session().get("/rest/api/3/myself")
    except ConnectAPIError as exc:
        logger.warning(
            "3LO /myself for user %s: the product answered %s", request.user.pk, exc.status_code
        )
        return error_response(exc, productStatus=exc.status_code)
    except ConnectClientError as exc:  # network failures included (network_error)
        logger.info("3LO /myself for user %s refused: %s", request.user.pk, exc.code)
        return error_response(exc)
    try:
        body = response.json()
    except ValueError:
        return JsonResponse(
            {"detail": "The product's answer is not JSON.", "code": "api_error"}, status=502
        )
    return JsonResponse(body, status=200, safe=False)
