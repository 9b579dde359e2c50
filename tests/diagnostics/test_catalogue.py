"""A catalogue of broken setups, each built from a real mistake: calls to the product.

Every case asserts that ``manage.py connect_doctor`` names the right code and
cause, for a token someone built to call the product; the cases that need the
product's answer (scopes, impersonation, a stale secret seen by the site) run
against the simulated site (``ConnectHost``) with a live server, as
``test_client_integration`` does. The tokens sent to our own views are in
``test_catalogue_inbound``.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest

from django_atlassian_connect.models import SharedSecret, Tenant
from django_atlassian_connect.testing import InstallKeyPair
from django_atlassian_connect.testing.host import ConnectHost
from tests.conftest import install_into_live_server
from tests.diagnostics.catalogue_support import ACCOUNT, APP_KEY, app_token, diagnosed, doctor

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
    from tests.diagnostics import test_catalogue_inbound

    cases = [
        name
        for module in (globals(), vars(test_catalogue_inbound))
        for name, value in module.items()
        if name.startswith("test_") and callable(value) and "catalogue" not in name
    ]
    # The catalogue's cases in both files (as counted before the split), and the qsh mistakes.
    assert len(cases) - 1 + len(OUTBOUND_QSH_MISTAKES) >= 14
