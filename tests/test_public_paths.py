"""The public import paths users rely on (docs/design.rst) keep working."""

from __future__ import annotations

import pytest

# The public import paths users rely on (docs/design.rst): moving code keeps them.
PUBLIC_NAMES = [
    ("django_atlassian_connect.authentication", "ConnectJWTAuthentication"),
    ("django_atlassian_connect.authentication", "ConnectContextJWTAuthentication"),
    ("django_atlassian_connect.decorators", "connect_jwt_required"),
    ("django_atlassian_connect.permissions", "IsConnectTenant"),
    ("django_atlassian_connect.permissions", "IsConnectUser"),
    ("django_atlassian_connect.client", "ConnectClient"),
    ("django_atlassian_connect.qsh", "canonical_request"),
    ("django_atlassian_connect.qsh", "query_string_hash"),
    ("django_atlassian_connect.models", "get_tenant_model"),
    ("django_atlassian_connect.exceptions", "ConnectAuthenticationFailed"),
    ("django_atlassian_connect.exceptions", "ConnectAPIError"),
    ("django_atlassian_connect.http", "ConnectAPIError"),
    ("django_atlassian_connect.authentication", "ConnectAuthenticationFailed"),
    ("django_atlassian_connect.inbound", "ConnectUser"),
    ("django_atlassian_connect.inbound", "ConnectAuth"),
    ("django_atlassian_connect.oauth", "get_access_token"),
    ("django_atlassian_connect.signals", "tenant_installed"),
    ("django_atlassian_connect.tasks", "verify_installations"),
    ("django_atlassian_connect.celery", "BEAT_SCHEDULE"),
    ("django_atlassian_connect.maintenance", "purge_retired_secrets"),
    ("django_atlassian_connect.redaction", "RedactTokensFilter"),
    ("django_atlassian_connect.tokens", "parse_token"),
    ("django_atlassian_connect.fields", "EncryptedTextField"),
    ("django_atlassian_connect.urls", "urlpatterns"),
    ("django_atlassian_connect.tenant_cache", "refresh"),
    ("django_atlassian_connect.testing", "ConnectHost"),
    ("django_atlassian_connect.testing.host", "ConnectHost"),
    ("django_atlassian_connect.testing.pytest_plugin", "connect_host"),
    ("django_atlassian_connect.diagnostics", "analyse_token"),
    ("django_atlassian_connect.testing", "reset_caches"),
]


@pytest.mark.parametrize("module,name", PUBLIC_NAMES, ids=[f"{m}.{n}" for m, n in PUBLIC_NAMES])
def test_public_import_paths_keep_working(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name) is not None
