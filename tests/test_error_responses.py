"""One answer for every error: ``responses.error_response``, ``client_error_status`` and the
DRF ``exception_handler``; the example views answer through them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.exceptions import (
    ConnectAuthError,
    ConnectClientError,
    ConnectError,
    ForgeAuthError,
    RateLimitBackoffError,
)
from django_atlassian_connect.responses import (
    client_error_status,
    error_response,
    exception_handler,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"


def body(response) -> dict:
    import json

    return json.loads(response.content)


def test_error_response_has_detail_code_hint_and_extra():
    response = error_response(ConnectError("oauth_code_missing"), productStatus=7)
    assert response.status_code == 400  # the code's registered status
    assert body(response) == {
        "detail": "The callback carries no authorization code. Nothing was stored.",
        "code": "oauth_code_missing",
        "hint": "Start again from the connect page.",
        "productStatus": 7,
    }


def test_error_response_honours_expose_hints(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "EXPOSE_HINTS": False}
    response = error_response(ConnectClientError("oauth_not_linked"))
    assert set(body(response)) == {"detail", "code"}


def test_extra_never_replaces_the_error_fields():
    response = error_response(ConnectClientError("oauth_not_linked"), code="x", detail="y")
    assert (body(response)["code"], body(response)["detail"]) != ("x", "y")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("oauth_grant_revoked", 409),
        ("oauth_grant_expired", 409),
        ("oauth_not_linked", 409),
        ("forge_token_expired", 409),
        ("forge_user_token_unavailable", 409),
        ("oauth_site_not_linked", 404),
        ("network_error", 503),
        ("oauth_token_failed", 503),
        ("service_account_unavailable", 503),
        ("url_not_allowed", 502),
        ("secret_missing", 502),
    ],
)
def test_client_error_status(code, status):
    assert client_error_status(ConnectClientError(code)) == status


def test_a_backoff_is_503_with_what_is_left_of_it_as_retry_after():
    error = RateLimitBackoffError(wait=41.2)
    assert client_error_status(error) == 503
    response = error_response(error)
    assert response.status_code == 503 and response["Retry-After"] == "42"
    assert body(response)["code"] == "rate_limited_backoff"


def test_other_503s_ask_for_the_default_wait():
    response = error_response(ConnectClientError("network_error"))
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert not error_response(ConnectClientError("oauth_not_linked")).has_header("Retry-After")


# -- the DRF exception handler ---------------------------------------------------------------


class Failing(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    error: Exception = NotFound()

    def get(self, request):
        raise self.error


@pytest.fixture
def drf_handler(settings):
    settings.REST_FRAMEWORK = {
        **getattr(settings, "REST_FRAMEWORK", {}),
        "EXCEPTION_HANDLER": "django_atlassian_connect.responses.exception_handler",
    }


def _call(error: Exception):
    view = type("View", (Failing,), {"error": error}).as_view()
    return view(RequestFactory().get("/x"))


def test_the_handler_answers_a_client_error(drf_handler):
    response = _call(RateLimitBackoffError(wait=5))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert body(response)["code"] == "rate_limited_backoff"


def test_the_handler_answers_refusals_with_their_challenge(drf_handler):
    response = _call(ConnectAuthError("token_expired"))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("JWT ")
    response = _call(ForgeAuthError("token_expired"))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer ")


def test_the_handler_leaves_the_rest_to_drf(drf_handler):
    response = _call(NotFound())
    assert isinstance(response, Response) and response.status_code == 404
    assert exception_handler(ValueError("x"), {}) is None


# -- the example views: one rule for both (formerly the 3LO one answered a backoff 502) ---------


@pytest.fixture
def example_views(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from connect_demo import forge_views, oauth_views

    yield forge_views, oauth_views
    for name in ("connect_demo.forge_views", "connect_demo.oauth_views", "connect_demo"):
        sys.modules.pop(name, None)


@pytest.mark.django_db
def test_the_3lo_example_answers_a_backoff_like_the_forge_one(example_views, monkeypatch):
    forge_views, oauth_views = example_views
    backoff = RateLimitBackoffError(wait=99.5)

    def refuse(*args, **kwargs):
        raise backoff

    monkeypatch.setattr(oauth_views.OAuthClient, "for_user", refuse)
    request = RequestFactory().get("/oauth/myself", {"cloudId": "c"})
    request.user = type("U", (AnonymousUser,), {"is_authenticated": True, "pk": 1})()
    response = oauth_views.myself.__wrapped__.__wrapped__(request)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "100"
    assert body(response)["code"] == "rate_limited_backoff"
    forge = forge_views._client_error(backoff)
    assert (forge.status_code, forge["Retry-After"], body(forge)) == (
        response.status_code,
        response["Retry-After"],
        body(response),
    )
