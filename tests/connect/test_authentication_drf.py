"""Inbound request tokens through the DRF classes: authentication, permission, refusals."""

from __future__ import annotations

import logging

import pytest

from django_atlassian_connect.connect.inbound import ConnectAuth, ConnectUser
from django_atlassian_connect.models import Tenant
from tests.conftest import ACCOUNT, assert_accepted, assert_refused

pytestmark = pytest.mark.django_db


# -- DRF specifics --------------------------------------------------------------------


def test_drf_no_token_is_401_with_challenge(installed_site):
    response = installed_site.client.get("/drf/page")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'JWT realm="com.example.tests"'


def test_drf_view_with_our_permission_and_no_token_says_token_missing(installed_site, caplog):
    """Not DRF's generic "credentials were not provided": our code and hint."""
    body = assert_refused(installed_site.client.get("/drf/context"), "token_missing")
    assert body["hint"].startswith("Send the Connect JWT as 'Authorization: JWT <token>'")
    assert body["detail"] == "The request carries no Connect JWT."
    assert "code=token_missing" in caplog.text


def test_our_permission_after_another_scheme_authenticated_is_403(installed_site, rf):
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request

    from django_atlassian_connect.permissions import IsConnectTenant

    request = Request(rf.get("/drf/context"))
    request.user, request.auth = AnonymousUser(), None
    request._authenticator = object()  # e.g. SessionAuthentication accepted it
    try:
        allowed = IsConnectTenant().has_permission(request, None)
    except APIException as exc:  # pragma: no cover - the assertion below explains
        raise AssertionError(f"refused as {exc!r}, expected a plain 403") from exc
    assert allowed is False


def test_drf_user_and_auth(installed_site, rf):
    from rest_framework.request import Request

    from django_atlassian_connect.authentication import ConnectJWTAuthentication

    token = installed_site.page_token("/drf/page")
    request = Request(rf.get("/drf/page", HTTP_AUTHORIZATION=f"JWT {token}"))
    user, auth = ConnectJWTAuthentication().authenticate(request)
    assert isinstance(user, ConnectUser) and isinstance(auth, ConnectAuth)
    assert user.account_id == ACCOUNT and user.is_authenticated and not user.is_anonymous
    assert user.tenant == Tenant.objects.get(client_key=installed_site.client_key)
    assert auth.claims["iss"] == installed_site.client_key
    assert token not in repr(auth) + repr(user) + str(user)


def test_drf_other_schemes_fall_through(installed_site, django_user_model):
    response = installed_site.client.get("/drf/mixed", HTTP_AUTHORIZATION="Bearer abc")
    assert response.status_code in (401, 403)
    assert "code" not in response.json() or response.json()["code"] != "token_malformed"
    user = django_user_model.objects.create_user("alice", password="pw")
    installed_site.client.force_login(user)
    assert installed_site.client.get("/drf/mixed").json() == {"user": "alice"}


def test_drf_post_json_with_header_token(installed_site):
    token = installed_site.page_token("/drf/page", method="POST")
    response = installed_site.client.post(
        "/drf/page", {"x": 1}, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )
    assert_accepted(response, installed_site)
    assert response.json()["data"] == {"x": 1}


def test_hints_can_be_switched_off(installed_site, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "EXPOSE_HINTS": False}
    for url in ("/page", "/drf/page"):
        response = installed_site.client.get(url, {"jwt": "abc"})
        assert set(response.json()) == {"detail", "code"}
        assert "error_description" not in response["WWW-Authenticate"]


def test_refusal_is_logged_without_the_token(installed_site, caplog):
    token = installed_site.page_token("/page?a=1")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        installed_site.client.get(f"/page?a=2&jwt={token}")
    record = next(r for r in caplog.records if "refused" in r.getMessage())
    message = record.getMessage()
    assert "code=qsh_mismatch" in message and installed_site.client_key in message
    assert "canonical_request='GET&/page&a=2'" in message
    assert token not in caplog.text and installed_site.secret not in caplog.text
