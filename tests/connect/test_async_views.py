"""``@connect_jwt_required`` on ``async def`` views, through Django's ASGI handler."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import iscoroutinefunction
from django.test import AsyncClient

from tests import views

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_decorated_async_view_is_still_a_coroutine_function():
    assert iscoroutinefunction(views.async_page)
    assert views.async_page.connect_token_kind == "request"
    assert views.async_context.connect_token_kind == "context"
    assert views.async_page.csrf_exempt is True


def test_async_page_with_a_request_token(installed_site):
    token = installed_site.page_token("/async/page")
    response = asyncio.run(AsyncClient().get("/async/page", {"jwt": token}))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "async": True,
        "clientKey": installed_site.client_key,
        "accountId": "5b10ac8d82e05b22cc7d4ef5",
        "retired": False,
    }
    assert response["Content-Security-Policy"].startswith("frame-ancestors ")


def test_async_context_view_refuses_a_page_token_with_its_code(installed_site):
    token = installed_site.page_token("/async/context")
    response = asyncio.run(
        AsyncClient().get("/async/context", headers={"Authorization": f"JWT {token}"})
    )
    assert response.status_code == 401
    assert response.json()["code"] == "context_qsh_required"
    assert 'error="context_qsh_required"' in response["WWW-Authenticate"]


def test_async_view_without_a_token(installed_site):
    response = asyncio.run(AsyncClient().get("/async/page"))
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"
