"""ServiceUnavailableMiddleware: a database or cache outage is 503 with Retry-After, not 500."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.core.cache import cache, caches
from django.db import IntegrityError, OperationalError, connections
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient
from django.urls import include, path

from django_atlassian_connect.connect import tenant_cache
from tests.conftest import assert_accepted

pytestmark = pytest.mark.django_db(transaction=True)

MIDDLEWARE = "django_atlassian_connect.middleware.ServiceUnavailableMiddleware"
REDIS_DOWN = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
}


def read_down_cache(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"value": caches["down"].get("anything")})


def duplicate(request: HttpRequest) -> JsonResponse:
    raise IntegrityError("duplicate key value violates unique constraint")


# This module is also the URLconf of the tests marked urls(__name__).
urlpatterns = [
    path("", include("tests.urls")),
    path("down-cache", read_down_cache),
    path("duplicate", duplicate),
]


@pytest.fixture
def middleware(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


@pytest.fixture
def database_down(installed_site) -> Iterator[None]:
    """New database connections fail, as while PostgreSQL restarts; the tenant is not cached."""
    cache.clear()
    tenant_cache.clear_process_memory()
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/dac-tests/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="9")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def assert_outage_answer(response, code: str, detail: str) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == code
    assert body["detail"] == detail
    assert "Retry-After" in body["hint"]
    # The cause's message (hosts, ports, paths) stays in the log.
    assert "127.0.0.1" not in response.content.decode() and "nonexistent" not in body["detail"]


def test_database_outage_is_503_with_retry_after(
    middleware, database_down, installed_site, client, caplog
):
    token = installed_site.page_token("/page")
    response = client.get("/page", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_outage_answer(
        response, "database_unavailable", "The database could not be reached (OperationalError)."
    )
    assert "GET /page answered 503 database_unavailable: OperationalError: " in caplog.text


def test_database_outage_in_a_drf_view(middleware, database_down, installed_site, client):
    token = installed_site.page_token("/drf/page")
    response = client.get("/drf/page", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_outage_answer(
        response, "database_unavailable", "The database could not be reached (OperationalError)."
    )


def test_database_outage_in_an_async_view(middleware, database_down, installed_site):
    token = installed_site.page_token("/async/page")
    response = asyncio.run(AsyncClient().get("/async/page", {"jwt": token}))
    assert_outage_answer(
        response, "database_unavailable", "The database could not be reached (OperationalError)."
    )


def test_without_the_middleware_the_outage_is_an_error(database_down, installed_site, client):
    token = installed_site.page_token("/page")
    with pytest.raises(OperationalError):  # Django would answer 500
        client.get("/page", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.mark.urls(__name__)
def test_cache_outage_is_503_cache_unavailable(middleware, settings, client, caplog):
    settings.CACHES = {**settings.CACHES, "down": REDIS_DOWN}
    response = client.get("/down-cache")
    assert_outage_answer(
        response, "cache_unavailable", "The cache could not be reached (ConnectionError)."
    )
    assert "GET /down-cache answered 503 cache_unavailable: ConnectionError: " in caplog.text


@pytest.mark.urls(__name__)
def test_other_database_errors_are_left_to_django(middleware, client):
    with pytest.raises(IntegrityError):  # a bug, not an outage: still a 500
        client.get("/duplicate")


def test_the_database_comes_back(middleware, installed_site, client):
    token = installed_site.page_token("/page")
    assert_accepted(client.get("/page", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site)
