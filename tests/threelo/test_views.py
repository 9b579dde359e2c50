"""OAuth 2.0 (3LO) account linking views: connect, callback (state once, nothing stored on
any refusal), disconnect; against the simulated authorization server over real HTTP."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import include, path

from django_atlassian_connect.models import OAuthGrant, OAuthSite
from django_atlassian_connect.redaction import redact
from django_atlassian_connect.threelo import views

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("django_atlassian_connect.oauth_urls")),
]

CALLBACK = "https://app.example.com/oauth/callback"  # BASE_URL of tests.settings + the default path


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="dana", password="dana-pw-1")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def start(browser) -> str:
    """GET /oauth/connect: the authorize URL it redirects to."""
    response = browser.get("/oauth/connect")
    assert response.status_code == 302, response.content
    return response["Location"]


def callback_path(location: str) -> str:
    """The path + query of the callback URL the authorization server redirected to."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return f"{parts.path}?{parts.query}"


def nothing_stored() -> bool:
    return not OAuthGrant.objects.exists() and not OAuthSite.objects.exists()


# -- connect ---------------------------------------------------------------------------------------


def test_connect_needs_a_logged_in_user(oauth_server):
    response = Client().get("/oauth/connect")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_callback_without_the_users_session_is_400(oauth_server, browser):
    location = oauth_server.consent_redirect(start(browser))
    anonymous = Client().get(callback_path(location))
    assert anonymous.status_code == 400 and b"oauth_state_invalid" in anonymous.content
    assert nothing_stored() and oauth_server.counters["code_exchanges"] == 0


def test_connect_redirects_to_authorize_with_every_parameter(oauth_server, browser):
    location = start(browser)
    assert location.startswith(oauth_server.auth_url + "/authorize?")
    query = oauth_server.query_of(location)
    assert query == {
        "audience": "api.atlassian.com",
        "client_id": oauth_server.client_id,
        "scope": "read:me read:jira-user read:jira-work offline_access",
        "redirect_uri": CALLBACK,
        "state": query["state"],
        "response_type": "code",
        "prompt": "consent",
    }
    assert len(query["state"]) >= 40
    assert "%20" in location and "+" not in location  # space-separated scopes, %20 encoded
    states = browser.session[views.SESSION_KEY]
    assert list(states) == [query["state"]]
    assert start(browser) != location  # a new state each time, both kept
    assert len(browser.session[views.SESSION_KEY]) == 2


def test_offline_access_is_added_once_and_scopes_follow_the_setting(
    oauth_server, browser, settings
):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "OAUTH_SCOPES": ["read:jira-work", "offline_access", "read:jira-work"],
        "OAUTH_CALLBACK_URL": "https://elsewhere.example.com/cb",
    }
    query = oauth_server.query_of(start(browser))
    assert query["scope"] == "read:jira-work offline_access"
    assert query["redirect_uri"] == "https://elsewhere.example.com/cb"


def test_connect_without_configuration_says_so(browser):
    response = browser.get("/oauth/connect", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.json()["code"] == "oauth_not_configured"
    assert "OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET" in response.json()["detail"]


# -- callback --------------------------------------------------------------------------------------


def test_the_whole_link_stores_the_grant_encrypted(oauth_server, browser, user, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "OAUTH_REDIRECT_URL": "/done"}
    location = oauth_server.consent_redirect(start(browser))
    response = browser.get(callback_path(location))
    assert response.status_code == 302 and response["Location"] == "/done"
    grant = OAuthGrant.objects.get(user=user)
    account = next(iter(oauth_server.state.accounts.values()))
    site = next(iter(oauth_server.state.sites.values()))
    assert (grant.account_id, grant.account_name, grant.status) == (
        account.account_id,
        "Alana Grant",
        "active",
    )
    assert "offline_access" in grant.scopes and grant.refresh_token and grant.access_token
    assert grant.consented_at and grant.refresh_token_issued_at and grant.access_expires_at
    assert [(s.cloud_id, s.url, s.name) for s in grant.sites.all()] == [
        (site.cloud_id, site.url, site.name)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM django_atlassian_connect_oauthgrant"
        )
        raw = cursor.fetchone()
    assert grant.access_token not in raw and grant.refresh_token not in raw
    assert browser.session[views.SESSION_KEY] == {}  # the state was used up
    assert oauth_server.counters["code_exchanges"] == 1


def test_a_wrong_state_is_400_and_stores_nothing(oauth_server, browser, caplog):
    location = oauth_server.consent_redirect(start(browser))
    forged = location.replace("state=", "state=x")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = browser.get(callback_path(forged))
    assert response.status_code == 400
    assert b"oauth-error-code" in response.content and b"oauth_state_invalid" in response.content
    assert nothing_stored() and oauth_server.counters["code_exchanges"] == 0
    assert "wrong, expired or replayed state" in caplog.text
    # A guess consumes nothing: the genuine state still works, once.
    assert browser.get(callback_path(location)).status_code == 302


def test_a_replayed_state_is_400_and_the_code_is_not_exchanged_twice(oauth_server, browser):
    location = oauth_server.consent_redirect(start(browser))
    assert browser.get(callback_path(location)).status_code == 302
    grant = OAuthGrant.objects.get()
    replay = browser.get(callback_path(location), headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.json()["code"] == "oauth_state_invalid"
    assert oauth_server.counters["code_exchanges"] == 1
    assert OAuthGrant.objects.get().refresh_token == grant.refresh_token  # unchanged


def test_no_state_or_a_state_of_another_session_is_400(oauth_server, browser, user):
    location = oauth_server.consent_redirect(start(browser))
    other = Client()
    other.force_login(get_user_model().objects.create_user(username="eve", password="eve-pw-1"))
    assert other.get(callback_path(location)).status_code == 400
    no_state = callback_path(location).split("&state=")[0]
    assert browser.get(no_state).status_code == 400
    assert nothing_stored() and oauth_server.counters["code_exchanges"] == 0


def test_an_expired_state_is_400(oauth_server, browser, monkeypatch):
    location = oauth_server.consent_redirect(start(browser))
    later = views.time.time() + views.STATE_LIFETIME + 1
    monkeypatch.setattr(views.time, "time", lambda: later)
    assert browser.get(callback_path(location)).status_code == 400
    assert nothing_stored()


def test_a_state_issued_to_another_user_of_the_same_session_is_400(oauth_server, browser, user):
    location = oauth_server.consent_redirect(start(browser))
    states = browser.session[views.SESSION_KEY]
    session = browser.session
    session[views.SESSION_KEY] = {k: {**v, "user": "999"} for k, v in states.items()}
    session.save()
    assert browser.get(callback_path(location)).status_code == 400
    assert nothing_stored()


def test_access_denied_is_a_clear_page_and_stores_nothing(oauth_server, browser):
    oauth_server.deny_next("access_denied", "User did not authorize the request")
    location = oauth_server.consent_redirect(start(browser))
    assert "error=access_denied" in location and "code=" not in location
    response = browser.get(callback_path(location))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Access was not granted" in page and "access_denied" in page
    assert "User did not authorize the request" in page and "Nothing was stored" in page
    assert nothing_stored() and oauth_server.counters["code_exchanges"] == 0
    assert browser.session[views.SESSION_KEY] == {}  # that state cannot be used again


def test_a_failed_code_exchange_is_502_and_stores_nothing(oauth_server, browser):
    location = oauth_server.consent_redirect(start(browser))
    oauth_server.state.client_secret = "rotated-in-the-console"
    response = browser.get(callback_path(location), headers={"Accept": "application/json"})
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "oauth_token_failed" and "401" in body["detail"]
    assert nothing_stored()


def test_a_code_for_another_redirect_uri_is_refused(oauth_server, browser):
    location = oauth_server.consent_redirect(start(browser))
    session = browser.session
    session[views.SESSION_KEY] = {
        k: {**v, "redirect_uri": "https://app.example.com/other"}
        for k, v in session[views.SESSION_KEY].items()
    }
    session.save()
    response = browser.get(callback_path(location), headers={"Accept": "application/json"})
    assert response.status_code == 502 and "redirect_uri" in response.json()["detail"]
    assert nothing_stored()


def test_linking_again_renews_the_same_grant(oauth_server, browser, user):
    browser.get(callback_path(oauth_server.consent_redirect(start(browser))))
    first = OAuthGrant.objects.get()
    OAuthGrant.objects.filter(pk=first.pk).update(status="revoked", last_error="x")
    browser.get(callback_path(oauth_server.consent_redirect(start(browser))))
    again = OAuthGrant.objects.get()
    assert again.pk == first.pk and again.status == "active" and again.last_error == ""
    assert again.refresh_token != first.refresh_token


# -- disconnect ------------------------------------------------------------------------------------


def test_disconnect_deletes_the_users_grants(oauth_server, linked_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(linked_user)
    assert client.post("/oauth/disconnect").status_code == 403  # CSRF
    client = Client()
    client.force_login(linked_user)
    assert client.get("/oauth/disconnect").status_code == 405
    response = client.post("/oauth/disconnect")
    assert response.status_code == 302 and response["Location"] == "/"
    assert nothing_stored()


# -- secrets stay secret ---------------------------------------------------------------------------


def test_tokens_never_reach_logs_reprs_or_the_admin(
    oauth_server, browser, user, caplog, admin_client
):
    with caplog.at_level(logging.DEBUG):
        browser.get(callback_path(oauth_server.consent_redirect(start(browser))))
    grant = OAuthGrant.objects.get()
    secrets = [str(grant.access_token), str(grant.refresh_token), oauth_server.client_secret]
    shown = [
        caplog.text,
        repr(grant),
        str(grant),
        repr(grant.sites.get()),
        admin_client.get(
            f"/admin/django_atlassian_connect/oauthgrant/{grant.pk}/change/"
        ).content.decode(),
        admin_client.get("/admin/django_atlassian_connect/oauthgrant/").content.decode(),
    ]
    for text in shown:
        for secret in secrets:
            assert secret not in text
    page = shown[4]
    assert grant.access_token_fingerprint in page and grant.refresh_token_fingerprint in page
    assert "Save" not in page  # read-only


def test_the_admin_is_registered_read_only(admin_client, linked_user):
    grant = linked_user.oauth_grant
    page = admin_client.get(f"/admin/django_atlassian_connect/oauthgrant/{grant.pk}/change/")
    assert page.status_code == 200
    assert admin_client.get("/admin/django_atlassian_connect/oauthgrant/add/").status_code == 403
    assert grant.access_token not in page.content.decode()


def test_access_logs_lose_the_code_and_tokens():
    line = '"GET /oauth/callback?code=c0de-VALUE_1&state=st4te HTTP/1.1" 302 0'
    assert redact(line) == '"GET /oauth/callback?code=[redacted]&state=st4te HTTP/1.1" 302 0'
    assert redact("/oauth/callback?state=s&code=c0de") == "/oauth/callback?state=s&code=[redacted]"
    assert redact("/rest/api/3/issue?code=PROJ") == "/rest/api/3/issue?code=PROJ"  # no state
    body = '{"refresh_token": "r-1", "client_secret":"s-1", "expires_in": 3600}'
    assert redact(body) == (
        '{"refresh_token": "[redacted]", "client_secret":"[redacted]", "expires_in": 3600}'
    )


# -- the answers' one shape (responses.error_response) ---------------------------------------------


def test_refusals_honour_expose_hints_as_json_and_as_a_page(oauth_server, browser, settings):
    """Formerly the 3LO views sent the hint whatever EXPOSE_HINTS said."""
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "EXPOSE_HINTS": False}
    location = oauth_server.consent_redirect(start(browser))
    forged = callback_path(location.replace("state=", "state=x"))
    as_json = browser.get(forged, headers={"Accept": "application/json"})
    assert as_json.status_code == 400
    assert set(as_json.json()) == {"detail", "code"}
    assert as_json.json()["code"] == "oauth_state_invalid"
    page = browser.get(forged).content.decode()
    assert "oauth_state_invalid" in page and "do not reload or share" not in page


def test_refusals_carry_the_hint_by_default(oauth_server, browser):
    location = oauth_server.consent_redirect(start(browser))
    forged = callback_path(location.replace("state=", "state=x"))
    body = browser.get(forged, headers={"Accept": "application/json"}).json()
    assert body["hint"].startswith("Start again from the connect page")


def test_every_code_the_views_answer_is_registered_and_documented(
    oauth_server, browser, monkeypatch
):
    """Formerly oauth_state_invalid, oauth_authorization_failed and oauth_code_missing were
    answered without being registered (nor on the troubleshooting page)."""
    from pathlib import Path

    from django_atlassian_connect.codes import CODES

    answered = set()
    json = {"Accept": "application/json"}
    location = oauth_server.consent_redirect(start(browser))
    forged = callback_path(location.replace("state=", "state=x"))
    answered.add(browser.get(forged, headers=json).json()["code"])
    location = oauth_server.consent_redirect(start(browser))
    no_code = callback_path(location).replace("code=", "nocode=")
    answered.add(browser.get(no_code, headers=json).json()["code"])
    oauth_server.deny_next("access_denied", "no")
    location = oauth_server.consent_redirect(start(browser))
    answered.add(browser.get(callback_path(location), headers=json).json()["code"])
    assert answered == {"oauth_state_invalid", "oauth_code_missing", "oauth_authorization_failed"}
    page = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.rst").read_text()
    for code in answered | {"oauth_token_failed", "oauth_not_configured", "network_error"}:
        assert code in CODES, code
        assert f"``{code}``" in page, code


def test_an_unreachable_api_is_502_network_error_and_stores_nothing(
    oauth_server, browser, settings
):
    """The accessible-resources call fails on the network: a registered code naming the host."""
    location = oauth_server.consent_redirect(start(browser))
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "API_URL": "http://127.0.0.1:9"}
    response = browser.get(callback_path(location), headers={"Accept": "application/json"})
    assert response.status_code == 502, response.content
    body = response.json()
    assert body["code"] == "network_error" and "127.0.0.1:9" in body["hint"]
    assert nothing_stored()
