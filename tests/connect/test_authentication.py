"""Inbound request tokens: where the token is found, what is verified, secret history."""

from __future__ import annotations

import logging
import time

import jwt
import pytest

from django_atlassian_connect.models import SharedSecret
from tests.conftest import assert_accepted, assert_refused

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


# -- where the token comes from ---------------------------------------------------


def test_page_with_token_in_query(installed_site):
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert response.status_code == 200
    assert response.json() == {
        "clientKey": installed_site.client_key,
        "accountId": ACCOUNT,
        "retired": False,
    }


def test_page_with_token_in_header(installed_site):
    token = installed_site.page_token("/page?a=1")
    response = installed_site.client.get("/page?a=1", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_accepted(response, installed_site)


def test_token_in_form_body_with_ace_body_params(installed_site):
    # The form fields stand in for the query in the qsh (atlassian-connect-express mode).
    from django_atlassian_connect.testing import request_token

    now = int(time.time())
    from django_atlassian_connect.qsh import query_string_hash

    claims = {
        "iss": installed_site.client_key,
        "iat": now,
        "exp": now + 60,
        "qsh": query_string_hash("POST", "/hook", body_params=[("b", "2"), ("a", "1")]),
    }
    token = jwt.encode(claims, installed_site.secret, algorithm="HS256")
    response = installed_site.client.post("/hook", {"a": "1", "b": "2", "jwt": token})
    assert_accepted(response, installed_site, account_id=None)
    # A plain computed-qsh token over the bare path works as well.
    token = request_token(
        client_key=installed_site.client_key,
        secret=installed_site.secret,
        method="POST",
        url="/hook",
        app_base_url="https://app.example.com",
    )
    response = installed_site.client.post(
        "/hook?x=1", {"z": "1"}, HTTP_AUTHORIZATION=f"JWT {token}"
    )
    assert_refused(response, "qsh_mismatch")


@pytest.mark.parametrize("in_form", [True, False], ids=["token in form", "token in header"])
def test_form_post_accepts_both_canonical_forms(installed_site, in_form):
    """The URL query alone, or the URL query plus the form fields (the product's
    servlet canonicalizer); any other mix is still refused."""
    from django_atlassian_connect.qsh import query_string_hash

    def post(qsh: str):
        now = int(time.time())
        claims = {"iss": installed_site.client_key, "iat": now, "exp": now + 60, "qsh": qsh}
        token = jwt.encode(claims, installed_site.secret, algorithm="HS256")
        form = {"z": "1", "a": "two words"}
        if in_form:
            return installed_site.client.post("/hook?x=1", {**form, "jwt": token})
        return installed_site.client.post("/hook?x=1", form, HTTP_AUTHORIZATION=f"JWT {token}")

    query_only = query_string_hash("POST", "/hook?x=1")
    with_fields = query_string_hash(
        "POST", "/hook", body_params=[("x", "1"), ("z", "1"), ("a", "two words")]
    )
    assert with_fields != query_only
    assert_accepted(post(query_only), installed_site, account_id=None)
    assert_accepted(post(with_fields), installed_site, account_id=None)
    assert_refused(post(query_string_hash("POST", "/hook")), "qsh_mismatch")
    assert_refused(
        post(query_string_hash("POST", "/hook", body_params=[("z", "1")])), "qsh_mismatch"
    )


def test_same_token_in_two_places_is_fine(installed_site):
    token = installed_site.page_token("/page")
    response = installed_site.client.get("/page", {"jwt": token}, HTTP_AUTHORIZATION=f"JWT {token}")
    assert_accepted(response, installed_site)


def test_different_tokens_are_ambiguous(installed_site):
    a = installed_site.page_token("/page")
    b = installed_site.page_token("/page", account_id="someone-else")
    assert_refused(
        installed_site.client.get("/page", {"jwt": a}, HTTP_AUTHORIZATION=f"JWT {b}"),
        "token_ambiguous",
    )
    assert_refused(installed_site.client.get(f"/page?jwt={a}&jwt={b}"), "token_ambiguous")


def test_missing_token_on_plain_view(installed_site):
    assert_refused(installed_site.client.get("/page"), "token_missing")
    assert_refused(installed_site.client.get("/page", HTTP_AUTHORIZATION="JWT "), "token_missing")


# -- what is verified -------------------------------------------------------------


def test_context_token_on_page_is_refused(installed_site):
    token = installed_site.context_token()
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "context_qsh_not_allowed")
    assert_refused(
        installed_site.client.post("/hook", HTTP_AUTHORIZATION=f"JWT {token}"),
        "context_qsh_not_allowed",
    )
    assert_refused(
        installed_site.client.get("/drf/page", HTTP_AUTHORIZATION=f"JWT {token}"),
        "context_qsh_not_allowed",
    )


def test_page_token_on_context_endpoint_is_refused(installed_site):
    token = installed_site.page_token("/context")
    assert_refused(
        installed_site.client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"),
        "context_qsh_required",
    )
    assert_refused(
        installed_site.client.get("/drf/context", HTTP_AUTHORIZATION=f"JWT {token}"),
        "context_qsh_required",
    )


def test_context_token_on_context_endpoints(installed_site):
    token = installed_site.context_token()
    assert_accepted(
        installed_site.client.get("/context", HTTP_AUTHORIZATION=f"JWT {token}"), installed_site
    )
    response = installed_site.client.get("/drf/context", HTTP_AUTHORIZATION=f"JWT {token}")
    assert_accepted(response, installed_site)
    assert response.json()["accountId"] == ACCOUNT


def test_anonymous_context_token_fails_is_connect_user(installed_site):
    token = installed_site.context_token(account_id=None)
    response = installed_site.client.get("/drf/context", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 403


def test_token_for_another_url_is_refused(installed_site):
    token = installed_site.page_token("/page?project=A")
    assert_refused(installed_site.client.get(f"/page?project=B&jwt={token}"), "qsh_mismatch")
    assert_refused(installed_site.client.get("/page/other", {"jwt": token}), "qsh_mismatch")


def test_query_with_spaces_plus_and_unicode(installed_site):
    url = "/page?q=a%20b&plus=1%2B1&star=*&tilde=~&name=%E5%AE%AE&q=A"
    token = installed_site.page_token(url)
    assert_accepted(installed_site.client.get(url + "&jwt=" + token), installed_site)


def test_raw_and_decoded_paths_are_both_accepted(installed_site):
    # Atlassian hashes the raw path; some signers decode it first.
    for signed_path in ("/page/a%20b", "/page/a b"):
        token = installed_site.page_token(signed_path)
        response = installed_site.client.get("/page/a%20b", {"jwt": token})
        assert response.status_code == 200, (signed_path, response.content)
        assert_accepted(response, installed_site)


def test_raw_uri_from_the_server_is_used(installed_site):
    # gunicorn passes RAW_URI; a signer that kept %7E encoded hashes that form.
    token = installed_site.page_token("/page/%7Euser")
    response = installed_site.client.get(
        "/page/~user", {"jwt": token}, RAW_URI="/page/%7Euser?jwt=x"
    )
    assert_accepted(response, installed_site)


def test_expired_token(installed_site):
    token = installed_site.page_token("/page", now=time.time() - 3600)
    body = assert_refused(installed_site.client.get("/page", {"jwt": token}), "token_expired")
    assert "expired" in body["detail"]


def test_leeway_setting(installed_site, settings):
    token = installed_site.page_token("/page", now=time.time() - 180 - 20)  # expired 20 s ago
    # default leeway 30 s
    assert_accepted(installed_site.client.get("/page", {"jwt": token}), installed_site)
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "LEEWAY": 5}
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "token_expired")


def test_wrong_secret(installed_site):
    token = installed_site.page_token("/page", secret="x" * 40)
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "signature_invalid")


def test_unknown_tenant(installed_site):
    from django_atlassian_connect.testing import request_token

    token = request_token(client_key="jira:nobody", secret="s" * 40, method="GET", url="/page")
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "tenant_unknown")


@pytest.mark.parametrize(
    "token,code",
    [
        ("abc", "token_malformed"),
        ("a.b.c", "token_malformed"),
        ("eyJhbGciOiJIUzI1NiJ9.W10.sig", "token_malformed"),  # claims are a list
        ("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", "alg_not_allowed"),
    ],
)
def test_malformed_tokens(installed_site, token, code):
    assert_refused(installed_site.client.get("/page", {"jwt": token}), code)


def test_alg_none_with_a_valid_tenant(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {"iss": installed_site.client_key, "iat": now, "exp": now + 60, "qsh": "x"},
        None,
        algorithm="none",
    )
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "alg_not_allowed")


def test_missing_claims(installed_site):
    now = int(time.time())
    token = jwt.encode(
        {"iss": installed_site.client_key, "iat": now, "qsh": "x"},
        installed_site.secret,
        algorithm="HS256",
    )
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "claim_missing")
    token = jwt.encode(
        {"iss": installed_site.client_key, "iat": now, "exp": now + 60},
        installed_site.secret,
        algorithm="HS256",
    )
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "qsh_missing")


# -- secret history -----------------------------------------------------------------


def test_token_from_retired_secret_within_grace_is_accepted(installed_site, caplog):
    old_token = installed_site.page_token("/page")
    assert installed_site.install(secret="rotated-" + "r" * 40).status_code == 204
    with caplog.at_level(logging.INFO, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", {"jwt": old_token})
    assert_accepted(response, installed_site)
    assert response.json()["retired"] is True
    assert "retired secret" in caplog.text


def test_token_from_secret_retired_beyond_grace(installed_site):
    old_token = installed_site.page_token("/page")
    assert installed_site.install(secret="rotated-" + "r" * 40).status_code == 204
    retired = SharedSecret.objects.get(retired_at__isnull=False)
    retired.retired_at = retired.retired_at.replace(year=retired.retired_at.year - 1)
    retired.save()
    body = assert_refused(installed_site.client.get("/page", {"jwt": old_token}), "secret_retired")
    assert retired.fingerprint in body["detail"] and "retired at" in body["detail"]
    # The new secret works.
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert_accepted(response, installed_site)


# -- responses of decorated views -------------------------------------------------------


def test_pages_may_be_framed_by_the_tenant_only(installed_site):
    response = installed_site.client.get("/page", {"jwt": installed_site.page_token("/page")})
    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"] == f"frame-ancestors {installed_site.base_url}"


def test_webhook_post_is_csrf_exempt(installed_site):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    token = installed_site.page_token("/hook", method="POST")
    response = client.post(
        "/hook", data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )
    assert_accepted(response, installed_site)


@pytest.mark.parametrize("iss", ["jira:\x00evil", "jira:\ud800"])
def test_issuer_no_database_can_store_is_malformed(installed_site, iss):
    now = int(time.time())
    token = jwt.encode(
        {"iss": iss, "iat": now, "exp": now + 60, "qsh": "x"}, "k" * 32, algorithm="HS256"
    )
    assert_refused(installed_site.client.get("/page", {"jwt": token}), "token_malformed")


def test_percent_encoded_jwt_parameter_is_still_found(installed_site):
    a = installed_site.page_token("/page")
    b = installed_site.page_token("/page", account_id="someone-else")
    response = installed_site.client.get(f"/page?%6Awt={a}", HTTP_AUTHORIZATION=f"JWT {b}")
    assert_refused(response, "token_ambiguous")
