"""3LO settings: defaults, read when used, and check E008 naming what is missing."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from django_atlassian_connect.conf import DEFAULTS, connect_settings
from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.threelo import tokens


def e008(settings, **values):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, **values}
    return [m for m in run_checks() if m.id == "atlassian_connect.E008"]


def test_defaults():
    assert DEFAULTS["OAUTH_AUTH_URL"] == "https://auth.atlassian.com"
    assert DEFAULTS["API_URL"] == "https://api.atlassian.com"
    assert DEFAULTS["OAUTH_CLIENT_ID"] is None and DEFAULTS["OAUTH_CLIENT_SECRET"] is None
    assert DEFAULTS["OAUTH_REFRESH_MARGIN"] == 300 and DEFAULTS["OAUTH_REDIRECT_URL"] == "/"
    assert DEFAULTS["OAUTH_CALLBACK_URL"] is None
    assert DEFAULTS["OAUTH_KEEPALIVE_AFTER"] < 90 * 24 * 3600


def test_callback_url_and_scopes_follow_the_settings(settings):
    assert tokens.callback_url() == "https://app.example.com/oauth/callback"
    assert tokens.requested_scopes() == [*DEFAULTS["OAUTH_SCOPES"], "offline_access"]
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "BASE_URL": "https://other.example.com/",
        "OAUTH_SCOPES": ["read:jira-work"],
    }
    assert tokens.callback_url() == "https://other.example.com/oauth/callback"
    assert tokens.requested_scopes() == ["read:jira-work", "offline_access"]
    assert tokens.requested_scopes("a b a") == ["a", "b", "offline_access"]
    assert connect_settings.OAUTH_SCOPES == ["read:jira-work"]


def test_no_client_means_not_configured(settings):
    with pytest.raises(ConnectClientError) as info:
        tokens.authorize_url("s")
    assert info.value.code == "oauth_not_configured"
    assert "OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET not set" in info.value.detail
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "OAUTH_CLIENT_ID": "id"}
    with pytest.raises(ConnectClientError) as half:
        tokens.client_credentials()
    assert "OAUTH_CLIENT_SECRET not set" in half.value.detail


def test_e008_names_the_missing_secret(settings):
    (error,) = e008(settings, OAUTH_CLIENT_ID="abc")
    assert "['OAUTH_CLIENT_ID'] is set but" in error.msg
    assert "['OAUTH_CLIENT_SECRET'] is not" in error.msg
    assert 'Set ATLASSIAN_CONNECT["OAUTH_CLIENT_SECRET"]' in error.hint


def test_e008_names_the_missing_client_id(settings):
    (error,) = e008(settings, OAUTH_CLIENT_SECRET="s3cr3t-value")
    assert "['OAUTH_CLIENT_ID'] is not" in error.msg and "s3cr3t-value" not in error.msg


def test_e008_scopes_must_be_a_list_of_names(settings):
    (error,) = e008(settings, OAUTH_SCOPES="read:me read:jira-user")
    assert "OAUTH_SCOPES" in error.msg
    assert e008(settings, OAUTH_SCOPES=["read:me", ""])
    assert not e008(settings, OAUTH_SCOPES=["read:me"])


def test_no_e008_with_both_or_neither(settings):
    assert not e008(settings)
    assert not e008(settings, OAUTH_CLIENT_ID="abc", OAUTH_CLIENT_SECRET="def")
    assert not e008(settings, OAUTH_CLIENT_ID="", OAUTH_CLIENT_SECRET=None)


PUBLIC_NAMES = [
    ("django_atlassian_connect.threelo.client", "OAuthClient"),
    ("django_atlassian_connect.threelo.sessions", "OAuthSession"),
    ("django_atlassian_connect.http.bound", "BoundSession"),
    ("django_atlassian_connect.oauth_urls", "urlpatterns"),
    ("django_atlassian_connect.models", "OAuthGrant"),
    ("django_atlassian_connect.models", "OAuthSite"),
    ("django_atlassian_connect.signals", "oauth_grant_revoked"),
    ("django_atlassian_connect.maintenance", "refresh_oauth_grants"),
    ("django_atlassian_connect.tasks", "refresh_oauth_grants"),
    ("django_atlassian_connect.testing.oauth", "OAuthServer"),
    ("django_atlassian_connect.testing.pytest_plugin", "oauth_server"),
    ("django_atlassian_connect.testing.pytest_plugin", "linked_user"),
]


@pytest.mark.parametrize("module,name", PUBLIC_NAMES, ids=[f"{m}.{n}" for m, n in PUBLIC_NAMES])
def test_public_import_paths(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name) is not None


def test_one_gateway_session_for_every_credential():
    from django_atlassian_connect.forge.sessions import ForgeSession
    from django_atlassian_connect.http.bound import BoundSession
    from django_atlassian_connect.threelo import sessions

    assert issubclass(ForgeSession, BoundSession)
    assert issubclass(sessions.OAuthSession, BoundSession)
