"""Fixtures of the credentials tests: the simulated Atlassian (site, gateway, token endpoint)
and another origin, with ATLASSIAN_CONNECT pointed at the first."""

from __future__ import annotations

import pytest

from django_atlassian_connect.credentials import client_credentials
from django_atlassian_connect.testing.credentials import CredentialsSimulator


@pytest.fixture(scope="module")
def atlassian():
    with CredentialsSimulator() as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere():
    """Another origin: it must never see a credential."""
    with CredentialsSimulator() as server:
        yield server


@pytest.fixture(autouse=True)
def gateway_settings(settings, atlassian):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "API_URL": atlassian.url,
        "OAUTH_AUTH_URL": atlassian.url,
        "HTTP_RETRIES": 2,
    }
    client_credentials.clear_memory_cache()
    atlassian.log.clear()
    atlassian.token_requests.clear()
    atlassian.token_delay = 0.0
    yield
    client_credentials.clear_memory_cache()
