"""Forge's deliveries while the shared cache (Redis) is down: verified and stored, never 5xx.

The JWKS, the jti memory and the event dedupe all live in
``FORGE_JWKS_CACHE_ALIAS``. When it cannot be reached, a worker with no key
set in memory used to refuse every call, and a lifecycle event that was
already stored was answered 503 (500 without the outage middleware), so
Forge retried work that was done.
"""

from __future__ import annotations

import pytest

from django_atlassian_connect.forge import jwks
from django_atlassian_connect.forge.installations import stored_system_token
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.views_support import INSTALLED, Received

pytestmark = [pytest.mark.urls("tests.forge.forge_urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        },
    }
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_JWKS_CACHE_ALIAS": "down"}
    jwks.clear_memory_cache()  # a worker that has no key set in memory yet
    yield
    jwks.clear_memory_cache()


def test_a_cold_worker_verifies_and_stores_without_the_cache(forge_host, cache_down, caplog):
    response = forge_host.trigger_scheduled()
    assert response.status_code == 204, response.content
    row = ForgeInstallation.objects.get(installation_id=forge_host.installation().id)
    assert stored_system_token(row) == forge_host.current_system_token()
    assert "forge JWKS cache unavailable (ConnectionError): going without" in caplog.text
    assert "counted as a first use" in caplog.text


def test_a_stored_lifecycle_event_is_announced_and_answered_204(forge_host, cache_down, caplog):
    received = Received("forge_installed")
    try:
        (attempt,) = forge_host.deliver_lifecycle(INSTALLED)
        assert attempt.status == 204
        (announced,) = received.of("forge_installed")
        assert announced["event"].installation_id == forge_host.installation().id
        assert "dedupe cache unavailable (ConnectionError), announced without it" in caplog.text
    finally:
        received.disconnect()
