"""The simulated Forge platform fixtures (``platform``, ``forge_settings``), registered by
``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def platform() -> Iterator[Any]:
    """A simulated Forge platform for a test module: one Jira installation on
    ``https://acme.atlassian.net`` and one account, Ada. Tests that verify its tokens
    use ``forge_settings``."""
    from django_atlassian_connect.testing.forge import ForgePlatform

    with ForgePlatform() as forge:
        forge.add_installation("jira", site_url="https://acme.atlassian.net")
        forge.add_account("Ada", "ada@example.com")
        yield forge


@pytest.fixture
def forge_settings(settings: Any, platform: Any) -> Iterator[None]:
    """ATLASSIAN_CONNECT pointed at ``platform``; the JWKS caches empty, its JWKS healthy."""
    from django.core.cache import cache

    from django_atlassian_connect.forge import jwks

    cache.clear()
    jwks.clear_memory_cache()
    platform.jwks.fault = None
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_APP_ID": platform.app_id,
        "FORGE_JWKS_URL": platform.jwks_url,
        "FORGE_API_HOSTS": platform.api_hosts,
        "FORGE_JWKS_MIN_REFRESH": 60,
    }
    yield
    jwks.clear_memory_cache()
