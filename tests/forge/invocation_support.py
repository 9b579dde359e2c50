"""Helpers shared by the Forge Invocation Token test modules."""

from __future__ import annotations

import pytest

from django_atlassian_connect.exceptions import ForgeAuthError
from django_atlassian_connect.forge import verify_fit
from tests.conftest import assert_refused


def refused(token: str, code: str, status: int = 401, **kwargs) -> ForgeAuthError:
    with pytest.raises(ForgeAuthError) as info:
        verify_fit(token, **kwargs)
    return assert_refused(info.value, code, status)
