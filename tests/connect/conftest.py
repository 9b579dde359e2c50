"""Fixtures shared by the Connect test modules (the lifecycle ones: `victim`)."""

from __future__ import annotations

import pytest

from tests.conftest import db_snapshot


@pytest.fixture
def victim(installed_site):
    """An installed tenant, and a snapshot of the database before the attack."""
    installed_site.snapshot = db_snapshot()
    return installed_site
