"""Fixtures of the Forge view tests: a fresh JWKS memory, real commits, signals received."""

from __future__ import annotations

import pytest

from django_atlassian_connect.forge import jwks
from tests.forge.views_support import Received


@pytest.fixture
def _fresh_jwks():
    jwks.clear_memory_cache()
    yield
    jwks.clear_memory_cache()


@pytest.fixture
def committed(transactional_db):
    """Real commits (no test transaction around the test): on_commit callbacks, the
    signals, run when the request's work commits, as in production."""


@pytest.fixture
def received():
    recorder = Received("forge_invoked", "forge_installed", "forge_upgraded")
    yield recorder
    recorder.disconnect()
