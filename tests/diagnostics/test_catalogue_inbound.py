"""The broken-setup catalogue, tokens sent to our own views: the doctor and the view agree.

Each case asserts that ``manage.py connect_doctor`` names the right code and
cause, and the view's answer: the same code in the JSON body and
``WWW-Authenticate``, and one WARNING log line with the code, never the token
or a secret.
"""

from __future__ import annotations

import logging
import time

import pytest

from django_atlassian_connect.models import SharedSecret
from tests.conftest import assert_refused
from tests.diagnostics.catalogue_support import app_token, diagnosed, doctor, inbound_token


@pytest.mark.django_db
def test_bearer_instead_of_jwt_inbound(installed_site, caplog):
    token = installed_site.page_token("/page")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_refused(response, "token_missing", caplog=caplog, never=(token, installed_site.secret))
    diagnosed(("token", f"Bearer {token}", "--url", "/page"), "token_missing", "bearer_scheme")


@pytest.mark.django_db
def test_plus_for_space_inbound(installed_site, caplog):
    token = inbound_token(installed_site, "GET&/page&q=a+b")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get(f"/page?q=a%20b&jwt={token}")
    assert_refused(response, "qsh_mismatch", caplog=caplog, never=(token, installed_site.secret))
    assert "canonical_request='GET&/page&q=a%20b'" in caplog.text
    finding = diagnosed(
        ("token", token, "--url", "https://app.example.com/page?q=a%20b"),
        "qsh_mismatch",
        "plus_for_space",
    )
    assert finding["details"]["canonical_request"] == "GET&/page&q=a%20b"


@pytest.mark.django_db
def test_unsorted_query_inbound(installed_site, caplog):
    token = inbound_token(installed_site, "GET&/page&z=1&a=2")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page?z=1&a=2", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_refused(response, "qsh_mismatch", caplog=caplog, never=(token, installed_site.secret))
    diagnosed(("token", token, "--url", "/page?z=1&a=2"), "qsh_mismatch", "unsorted_query")


@pytest.mark.django_db
def test_retired_secret_within_grace(installed_site, caplog):
    old_token = installed_site.page_token("/page")
    assert installed_site.install(secret="ATCO-rotated-" + "r" * 40).status_code == 204
    with caplog.at_level(logging.INFO, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": old_token})
    assert response.status_code == 200 and response.json()["retired"] is True
    assert response.json()["clientKey"] == installed_site.client_key
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "retired secret" in caplog.text and old_token not in caplog.text
    status, report = doctor("token", old_token, "--url", "/page")
    assert status == 0 and report["healthy"], report
    finding = next(f for f in report["findings"] if f["code"] == "secret_retired")
    assert finding["severity"] == "warning" and finding["cause"] == "within_grace"
    assert finding["details"]["retired_seconds_ago"] < 900


@pytest.mark.django_db
def test_retired_secret_beyond_grace(installed_site, caplog):
    old_token = installed_site.page_token("/page")
    old_secret = installed_site.secret
    assert installed_site.install(secret="ATCO-rotated-" + "r" * 40).status_code == 204
    retired = SharedSecret.objects.get(retired_at__isnull=False)
    retired.retired_at = retired.retired_at.replace(year=retired.retired_at.year - 1)
    retired.save()
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": old_token})
    assert_refused(response, "secret_retired", caplog=caplog, never=(old_token, old_secret))
    finding = diagnosed(("token", old_token, "--url", "/page"), "secret_retired", "beyond_grace")
    assert finding["details"]["secret"] == retired.fingerprint


@pytest.mark.django_db
def test_clock_skew_of_two_minutes(installed_site, caplog):
    # The signer's clock runs 2 minutes ahead of ours.
    token = installed_site.page_token("/page", now=time.time() + 120)
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": token})
    assert_refused(
        response, "token_not_yet_valid", caplog=caplog, never=(token, installed_site.secret)
    )
    finding = diagnosed(("token", token, "--url", "/page"), "token_not_yet_valid", "clock_skew")
    assert 115 <= finding["details"]["skew_seconds"] <= 125


@pytest.mark.django_db
def test_iframe_token_replayed_on_another_url(installed_site, caplog):
    token = installed_site.page_token("/page?project=A")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page/other", {"jwt": token})
    assert_refused(response, "qsh_mismatch", caplog=caplog, never=(token, installed_site.secret))
    finding = diagnosed(("token", token, "--url", "/page/other"), "qsh_mismatch", "other_request")
    assert "context token" in finding["hint"]


@pytest.mark.django_db
def test_iframe_token_replayed_on_a_context_view(installed_site, caplog):
    token = installed_site.page_token("/page?project=A")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/drf/context", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_refused(
        response, "context_qsh_required", caplog=caplog, never=(token, installed_site.secret)
    )
    diagnosed(
        ("token", token, "--url", "/drf/context"), "context_qsh_required", "iframe_token_replayed"
    )


@pytest.mark.django_db
def test_context_token_on_a_page_url(installed_site, caplog):
    token = installed_site.context_token()
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": token})
    assert_refused(
        response, "context_qsh_not_allowed", caplog=caplog, never=(token, installed_site.secret)
    )
    diagnosed(
        ("token", token, "--url", "/page"), "context_qsh_not_allowed", "context_token_on_page"
    )


@pytest.mark.django_db
def test_context_path_included_inbound(installed_site, settings, caplog):
    # The app is served under /myapp; the signer hashed /myapp/page instead of /page.
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "BASE_URL": "https://app.example.com/myapp",
    }
    token = inbound_token(installed_site, "GET&/myapp/page&")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": token}, SCRIPT_NAME="/myapp")
    assert_refused(response, "qsh_mismatch", caplog=caplog, never=(token, installed_site.secret))
    assert "canonical_request='GET&/page&'" in caplog.text
    diagnosed(
        ("token", token, "--url", "https://app.example.com/myapp/page"),
        "qsh_mismatch",
        "base_path_included",
    )


@pytest.mark.django_db
def test_inbound_token_signed_as_the_app(installed_site, caplog):
    # A token built for calling the product (iss = our app key) sent to our own view.
    token = app_token(installed_site.secret, "GET&/page&")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": token})
    assert_refused(response, "tenant_unknown", caplog=caplog, never=(token, installed_site.secret))
    diagnosed(("token", token, "--url", "/page"), "tenant_unknown", "iss_is_app_key")


@pytest.mark.django_db
def test_terse_responses_keep_the_hint_in_the_log(installed_site, settings, caplog):
    # EXPOSE_HINTS off: the answer has code and detail only; the log line keeps the hint.
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "EXPOSE_HINTS": False}
    token = installed_site.context_token()
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": token})
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
    assert response.json()["code"] == "context_qsh_not_allowed"
    assert "error_description" not in response["WWW-Authenticate"]
    (record,) = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "django_atlassian_connect"
    ]
    assert "code=context_qsh_not_allowed" in record.getMessage()
    assert "hint=Context tokens" in record.getMessage()
    assert token not in caplog.text and installed_site.secret not in caplog.text
