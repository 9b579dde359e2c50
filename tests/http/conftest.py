"""Fixtures of the rate-limit tests: a tenant's /myself URL, no urllib3 retries."""

from __future__ import annotations

import pytest


@pytest.fixture
def myself(tenant):
    return tenant.base_url + "/rest/api/3/myself"


@pytest.fixture
def no_retries(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 0}
