"""A catalogue of broken setups, each built from a real mistake.

Every case asserts that ``manage.py connect_doctor`` names the right code and
cause. Cases that reach our own views also assert the view's answer: the same
code in the JSON body and ``WWW-Authenticate``, and one WARNING log line with
the code, never the token or a secret.

Cases that need the product's answer (scopes, impersonation, a stale secret
seen by the site) run against the simulated site (``ConnectHost``) with a live
server, as ``test_client_integration`` does.
"""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest

from django_atlassian_connect.models import SharedSecret, Tenant
from django_atlassian_connect.qsh import hash_canonical_request
from django_atlassian_connect.testing import InstallKeyPair
from django_atlassian_connect.testing.host import ConnectHost
from tests.conftest import assert_refused, install_into_live_server, run_doctor_json

APP_KEY = "com.example.tests"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


# -- helpers ------------------------------------------------------------------------------


doctor = run_doctor_json


def diagnosed(args: tuple[str, ...], code: str, cause: str, *, primary: bool = True) -> dict:
    """The finding ``code`` with ``cause``; by default also the first problem."""
    status, report = doctor(*args)
    assert status == 1, report
    if primary:
        assert (report["code"], report["cause"]) == (code, cause), report["findings"]
    found = [f for f in report["findings"] if f["code"] == code and f["cause"] == cause]
    assert found, report["findings"]
    assert found[0]["hint"], found[0]
    return found[0]


def app_token(secret: str, canonical: str, *, iss: str = APP_KEY, now: float | None = None) -> str:
    """An app JWT whose qsh is the hash of ``canonical`` (right or mistaken)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": iss,
        "iat": issued,
        "exp": issued + 180,
        "qsh": hash_canonical_request(canonical),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def inbound_token(site, canonical: str, **claims) -> str:
    """A product-style token for ``site`` whose qsh is the hash of ``canonical``."""
    now = int(time.time())
    payload = {
        "iss": site.client_key,
        "sub": ACCOUNT,
        "iat": now,
        "exp": now + 180,
        "qsh": hash_canonical_request(canonical),
        "context": {},
        **claims,
    }
    return jwt.encode(payload, site.secret, algorithm="HS256")


# -- outbound: a token someone built to call the product ---------------------------------


@pytest.mark.django_db
def test_iss_is_client_key(installed_site):
    # The forum classic: a Node app signs its REST calls with iss = clientKey.
    url = installed_site.base_url + "/rest/api/3/myself"
    token = app_token(
        installed_site.secret, "GET&/rest/api/3/myself&", iss=installed_site.client_key
    )
    finding = diagnosed(
        ("token", f"JWT {token}", "--outbound", "--url", url),
        "iss_is_client_key",
        "iss_is_client_key",
    )
    assert finding["details"]["expected_iss"] == APP_KEY


@pytest.mark.django_db
def test_bearer_instead_of_jwt_outbound(installed_site):
    token = app_token(installed_site.secret, "GET&/rest/api/3/myself&")
    diagnosed(
        (
            "token",
            f"Bearer {token}",
            "--outbound",
            "--client-key",
            installed_site.client_key,
            "--url",
            "/rest/api/3/myself",
        ),
        "bearer_scheme",
        "bearer_instead_of_jwt",
    )


@pytest.mark.django_db
def test_bearer_instead_of_jwt_inbound(installed_site, caplog):
    token = installed_site.page_token("/page")
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        response = installed_site.client.get("/page", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_refused(response, "token_missing", caplog=caplog, never=(token, installed_site.secret))
    diagnosed(("token", f"Bearer {token}", "--url", "/page"), "token_missing", "bearer_scheme")


@pytest.mark.django_db
def test_qsh_over_wiki_path(site):
    # Confluence: the signer hashed /wiki/rest/... instead of /rest/...
    site.base_url += "/wiki"
    assert site.install(productType="confluence").status_code == 204
    url = site.base_url + "/rest/api/content?spaceKey=DS&title=a%20b"
    token = app_token(site.secret, "GET&/wiki/rest/api/content&spaceKey=DS&title=a%20b")
    finding = diagnosed(
        ("token", f"JWT {token}", "--outbound", "--url", url), "qsh_mismatch", "wiki_in_qsh"
    )
    assert (
        finding["details"]["canonical_request"] == "GET&/rest/api/content&spaceKey=DS&title=a%20b"
    )
    assert finding["details"]["signer_canonical_request"].startswith("GET&/wiki/rest/api/content&")


# Each row: the cause the doctor names, the canonical request the signer hashed, and the
# URL it called. The right canonical request is always the URL's.
OUTBOUND_QSH_MISTAKES = [
    pytest.param(
        "plus_for_space",
        "GET&/rest/api/3/search&jql=project+%3D+DEMO",
        "/rest/api/3/search?jql=project%20%3D%20DEMO",
        id="plus_for_space",
    ),
    pytest.param(
        "unsorted_query",
        "GET&/rest/api/3/search&maxResults=5&jql=a",
        "/rest/api/3/search?maxResults=5&jql=a",
        id="unsorted_query",
    ),
    # An app forwarded the iframe's query string (with its jwt) to the REST call and
    # hashed all of it.
    pytest.param(
        "jwt_param_hashed",
        "GET&/rest/api/3/search&jql=a&jwt=eyJpZnJhbWUtdG9rZW4i",
        "/rest/api/3/search?jql=a&jwt=eyJpZnJhbWUtdG9rZW4i",
        id="jwt_param_hashed",
    ),
    pytest.param(
        "trailing_slash_kept",
        "GET&/rest/api/3/project/&",
        "/rest/api/3/project/",
        id="trailing_slash_kept",
    ),
    # The product hashes the raw path; this signer decoded %2F first.
    pytest.param(
        "decoded_path",
        "GET&/rest/api/3/issue/A/B&",
        "/rest/api/3/issue/A%2FB",
        id="decoded_path",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("cause", "signed_canonical", "url"), OUTBOUND_QSH_MISTAKES)
def test_outbound_qsh_mistake(installed_site, cause, signed_canonical, url):
    token = app_token(installed_site.secret, signed_canonical)
    diagnosed(
        (
            "token",
            f"JWT {token}",
            "--outbound",
            "--client-key",
            installed_site.client_key,
            "--url",
            url,
        ),
        "qsh_mismatch",
        cause,
    )


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
def test_stale_secret_after_reinstall(installed_site):
    # The site reinstalled (new secret); a worker still signs with the one it cached.
    old_secret = installed_site.secret
    assert installed_site.install(secret="ATCO-after-reinstall-" + "s" * 40).status_code == 204
    token = app_token(old_secret, "GET&/rest/api/3/myself&")
    finding = diagnosed(
        (
            "token",
            f"JWT {token}",
            "--outbound",
            "--client-key",
            installed_site.client_key,
            "--url",
            "/rest/api/3/myself",
        ),
        "secret_retired",
        "stale_secret",
    )
    retired = SharedSecret.objects.get(retired_at__isnull=False)
    current = SharedSecret.objects.get(retired_at__isnull=True)
    assert finding["details"]["secret"] == retired.fingerprint
    assert finding["details"]["current_secret"] == current.fingerprint


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
def test_display_url_used_as_api_base_token(site):
    assert site.install(displayUrl="https://jira.example-custom.com").status_code == 204
    token = app_token(site.secret, "GET&/rest/api/3/myself&")
    finding = diagnosed(
        (
            "token",
            f"JWT {token}",
            "--outbound",
            "--url",
            "https://jira.example-custom.com/rest/api/3/myself",
        ),
        "display_url_used",
        "display_url_as_api_base",
    )
    assert finding["details"]["base_url"] == site.base_url


@pytest.mark.django_db
def test_display_url_used_as_api_base_request(site):
    # ConnectClient refuses before sending anything; the doctor says why.
    assert site.install(displayUrl="https://jira.example-custom.com").status_code == 204
    diagnosed(
        (
            "request",
            "GET",
            "https://jira.example-custom.com/rest/api/3/myself",
            "--tenant",
            site.client_key,
        ),
        "display_url_used",
        "display_url_as_api_base",
    )


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
def test_sso_provider_bearer_token_sent_to_the_product(installed_site):
    # An Azure AD access token used against Jira Cloud's REST API.
    idp = InstallKeyPair()
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "aud": "api://jira-integration",
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "oid": "0b7e5b1a-7f63-4d3f-9c5e-3d1c7e3bb001",
            "upn": "alana@example.com",
            "scp": "user_impersonation",
            "iat": now,
            "exp": now + 3600,
        },
        idp.private_pem,
        algorithm="RS256",
        headers={"kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg"},
    )
    finding = diagnosed(
        (
            "token",
            f"Bearer {token}",
            "--outbound",
            "--url",
            installed_site.base_url + "/rest/api/3/myself",
        ),
        "sso_token",
        "sso_provider_token",
    )
    assert "Client must be authenticated" in finding["message"]


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


# -- against the simulated site -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_missing_act_as_user(settings, live_server):
    with ConnectHost() as host:
        tenant = install_into_live_server(settings, live_server, host, scopes=("READ", "WRITE"))
        finding = diagnosed(
            ("tenant", tenant.client_key, "--check", "--as-user", ACCOUNT),
            "act_as_user_missing",
            "scope_not_declared",
        )
    assert "unauthorized_client" in finding["message"]


@pytest.mark.django_db(transaction=True)
def test_act_as_user_added_but_install_not_upgraded(settings, live_server):
    with ConnectHost(app_scopes=["READ", "WRITE"]) as host:
        tenant = install_into_live_server(settings, live_server, host)
        diagnosed(
            ("tenant", tenant.client_key, "--check", "--as-user", ACCOUNT),
            "act_as_user_missing",
            "install_not_upgraded",
        )


@pytest.mark.django_db(transaction=True)
def test_missing_admin_scope_is_403(settings, live_server):
    with ConnectHost() as host:
        tenant = install_into_live_server(settings, live_server, host)
        finding = diagnosed(
            ("request", "GET", "/rest/api/3/permissions", "--tenant", tenant.client_key),
            "scope_missing",
            "ADMIN",
        )
    assert finding["details"]["status"] == 403
    assert "lack ADMIN" in finding["details"]["product_says"]


@pytest.mark.django_db(transaction=True)
def test_stale_secret_seen_by_the_site(settings, live_server):
    # The site rotated its secret; our 'installed' callback never arrived.
    with ConnectHost() as host:
        tenant = install_into_live_server(settings, live_server, host)
        host.secrets[-1].retired_at = time.time()
        host.secrets.append(type(host.secrets[-1])("ATCO-rotated-without-telling-us", time.time()))
        status, report = doctor("tenant", host.base_url, "--check")
    assert status == 1
    assert (report["code"], report["cause"]) == ("signature_invalid", "stale_secret")
    finding = report["findings"][[f["code"] for f in report["findings"]].index("signature_invalid")]
    assert (
        finding["details"]["secret"] == Tenant.objects.get(pk=tenant.pk).current_secret.fingerprint
    )
    text = json.dumps(report)
    assert host.secrets[0].secret not in text and host.secrets[1].secret not in text


def test_catalogue_has_at_least_fourteen_cases():
    cases = [
        name
        for name, value in globals().items()
        if name.startswith("test_") and callable(value) and "catalogue" not in name
    ]
    assert len(cases) - 1 + len(OUTBOUND_QSH_MISTAKES) >= 14
