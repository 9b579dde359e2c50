"""Fixtures of the simulated Forge platform tests: a platform, one account, one installation."""

from __future__ import annotations

import pytest

from django_atlassian_connect.testing.forge import ForgePlatform, ForgeSigningKey, KeyRing
from tests.testing.forge_platform_support import APP_KEY


@pytest.fixture(scope="module")
def signing_key() -> ForgeSigningKey:
    return ForgeSigningKey()


@pytest.fixture
def forge(signing_key):
    with ForgePlatform(keys=KeyRing(signing_key), connect_key=APP_KEY) as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        platform.add_installation("jira", connect_client_key="jira:client-key-1")
        yield platform


@pytest.fixture
def user(forge):
    return next(iter(forge.accounts))
