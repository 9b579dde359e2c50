"""Impersonation: the JWT-bearer assertion, the token cache, errors, concurrency."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from django.db import connection
from django.utils import timezone

from django_atlassian_connect.connect import housekeeping as connect_housekeeping
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.exceptions import ImpersonationError
from django_atlassian_connect.models import AccessToken, Tenant

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
TOKEN_URL = "http://127.0.0.1:9/oauth/oauth2/token"  # AUTHORIZATION_SERVER_URL in tests.settings


def grant_ok(rsps, token="tok-1", expires_in=900):
    return rsps.post(
        TOKEN_URL, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    )


@pytest.mark.django_db
def test_assertion_claims_are_exactly_as_specified(tenant, installed_site, rsps):
    grant_ok(rsps)
    assert impersonation.get_access_token(tenant, ACCOUNT, ["write", "read", "READ"]) == "tok-1"
    form = parse_qs(rsps.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["scope"] == ["READ WRITE"]
    claims = jwt.decode(
        form["assertion"][0],
        installed_site.secret,
        algorithms=["HS256"],
        audience="http://127.0.0.1:9/oauth",
    )
    assert claims["iss"] == "urn:atlassian:connect:clientid:oauth-client-1"
    assert claims["sub"] == f"urn:atlassian:connect:useraccountid:{ACCOUNT}"
    assert claims["tnt"] == tenant.base_url
    assert claims["exp"] - claims["iat"] == 60
    assert "qsh" not in claims


@pytest.mark.django_db
def test_no_scope_parameter_when_none_asked(tenant, rsps):
    grant_ok(rsps)
    impersonation.get_access_token(tenant, ACCOUNT)
    assert "scope" not in parse_qs(rsps.calls[0].request.body)


def test_scope_normalisation():
    assert impersonation.normalise_scopes(["write", "read", " READ "]) == "READ WRITE"
    assert impersonation.normalise_scopes("act_as_user read") == "ACT_AS_USER READ"
    assert impersonation.normalise_scopes(None) == impersonation.normalise_scopes([]) == ""


@pytest.mark.django_db
def test_cache_hit_makes_no_network_call(tenant, rsps):
    grant_ok(rsps)
    first = impersonation.get_access_token(tenant, ACCOUNT, ["READ"])
    for _ in range(5):
        assert impersonation.get_access_token(tenant, ACCOUNT, ["read"]) == first
    assert len(rsps.calls) == 1
    row = AccessToken.objects.get()
    assert row.token == "tok-1"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {AccessToken._meta.db_table}")
        assert "tok-1" not in cursor.fetchone()[0]  # encrypted at rest


@pytest.mark.django_db
def test_token_is_renewed_within_the_margin(tenant, rsps):
    grant_ok(rsps, "tok-1")
    impersonation.get_access_token(tenant, ACCOUNT)
    AccessToken.objects.update(expires_at=timezone.now() + timedelta(seconds=59))  # margin is 60 s
    rsps.replace(responses.POST, TOKEN_URL, json={"access_token": "tok-2", "expires_in": 900})
    assert impersonation.get_access_token(tenant, ACCOUNT) == "tok-2"
    assert len(rsps.calls) == 2


@pytest.mark.django_db
def test_different_users_and_scopes_have_their_own_tokens(tenant, rsps):
    grant_ok(rsps)
    impersonation.get_access_token(tenant, ACCOUNT, ["READ"])
    impersonation.get_access_token(tenant, ACCOUNT, ["READ", "WRITE"])
    impersonation.get_access_token(tenant, "another-account", ["READ"])
    assert len(rsps.calls) == 3 and AccessToken.objects.count() == 3


@pytest.mark.django_db
def test_missing_oauth_client_id_fails_before_any_call(tenant, rsps):
    tenant.oauth_client_id = ""
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert excinfo.value.code == "oauth_client_id_missing" and "oauthClientId" in str(excinfo.value)
    assert len(rsps.calls) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error,hint_part",
    [
        (
            "unauthorized_client",
            "ACT_AS_USER missing from the descriptor scopes, or the installation was not upgraded",
        ),
        ("invalid_grant", "accountId may not exist"),
        ("invalid_scope", "scopes the descriptor declares"),
    ],
)
def test_oauth_errors_carry_hints(tenant, rsps, error, hint_part):
    rsps.post(TOKEN_URL, status=400, json={"error": error, "error_description": "nope"})
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert excinfo.value.code == error and hint_part in str(excinfo.value)
    assert len(rsps.calls) == 1  # 4xx is not retried
    assert not AccessToken.objects.exclude(token=None).exists()


@pytest.mark.django_db
def test_5xx_is_retried_then_succeeds(tenant, rsps):
    rsps.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"})
    grant_ok(rsps, "tok-after-retry")
    assert impersonation.get_access_token(tenant, ACCOUNT) == "tok-after-retry"
    assert len(rsps.calls) == 2


@pytest.mark.django_db
def test_persistent_5xx_is_a_clear_error(tenant, rsps, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 1}
    rsps.post(TOKEN_URL, status=502, body="bad gateway")
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert excinfo.value.code == "authorization_server_unavailable"
    assert len(rsps.calls) == 2


@pytest.mark.django_db
def test_timeout_is_a_clear_error(tenant, rsps):
    rsps.post(TOKEN_URL, body=requests.Timeout("read timed out"))
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert excinfo.value.code == "authorization_server_unavailable" and "Timeout" in str(
        excinfo.value
    )


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["not json", '{"token_type": "Bearer"}', '["x"]'])
def test_malformed_token_response(tenant, rsps, body):
    rsps.post(TOKEN_URL, body=body, status=200)
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    assert excinfo.value.code == "token_response_invalid"


@pytest.mark.django_db
def test_staging_sites_use_the_staging_server(tenant, rsps):
    tenant.base_url = "https://dev-site.jira-dev.com"
    rsps.post(
        "https://oauth-2-authorization-server.stg.services.atlassian.com/oauth2/token",
        json={"access_token": "s", "expires_in": 900},
    )
    assert impersonation.get_access_token(tenant, ACCOUNT) == "s"


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_cause_exactly_one_grant(installed_site, rsps):
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    calls = []

    def slow_grant(request):
        calls.append(time.monotonic())
        time.sleep(0.3)  # callers pile up behind the lock meanwhile
        return (200, {}, '{"access_token": "only-one", "expires_in": 900}')

    rsps.add_callback(responses.POST, TOKEN_URL, callback=slow_grant)
    results, errors = [], []
    barrier = threading.Barrier(8)

    def caller():
        try:
            barrier.wait()
            results.append(impersonation.get_access_token(tenant, ACCOUNT, ["READ"]))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == ["only-one"] * 8
    assert len(calls) == 1


@pytest.mark.django_db
def test_refresh_access_tokens_renews_recently_used_tokens(tenant, rsps):
    grant_ok(rsps, "tok-1")
    impersonation.get_access_token(tenant, ACCOUNT)
    impersonation.get_access_token(tenant, "idle-user")
    soon = timezone.now() + timedelta(seconds=120)
    AccessToken.objects.update(expires_at=soon)
    AccessToken.objects.filter(account_id="idle-user").update(
        last_used_at=timezone.now() - timedelta(hours=2)
    )
    rsps.replace(responses.POST, TOKEN_URL, json={"access_token": "tok-2", "expires_in": 900})
    assert connect_housekeeping.refresh_access_tokens() == {"refreshed": 1, "failed": 0}
    assert AccessToken.objects.get(account_id=ACCOUNT).token == "tok-2"
    assert AccessToken.objects.get(account_id="idle-user").token == "tok-1"
    # Running it again finds nothing to do: idempotent.
    assert connect_housekeeping.refresh_access_tokens() == {"refreshed": 0, "failed": 0}


# -- one token-endpoint rule (http.token_endpoint) -----------------------------------------------


@pytest.mark.django_db
def test_a_network_failure_chains_nothing_holding_the_assertion(tenant):
    # Nothing listens on TOKEN_URL: requests' real exception carries the request body.
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.request_grant(tenant, ACCOUNT, "", "s" * 40)
    error = excinfo.value
    assert error.code == "authorization_server_unavailable" and error.__context__ is None
    cause = error.__cause__
    assert isinstance(cause, requests.ConnectionError) and cause.request is None
    assert cause.__cause__ is None and cause.__context__ is None
    shown = str(error) + repr(error) + str(cause) + repr(cause)
    assert "assertion" not in shown and "jwt-bearer" not in shown


@pytest.mark.django_db
def test_a_missing_expires_in_is_900_seconds(tenant, rsps):
    rsps.post(TOKEN_URL, json={"access_token": "tok"})
    assert impersonation.request_grant(tenant, ACCOUNT, "", "s" * 40) == ("tok", 900)


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["0", "true", '"900"', "NaN", "null"])
def test_a_present_but_invalid_expires_in_is_an_error(tenant, rsps, raw):
    rsps.post(TOKEN_URL, body='{"access_token": "tok", "expires_in": ' + raw + "}")
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.request_grant(tenant, ACCOUNT, "", "s" * 40)
    assert excinfo.value.code == "token_response_invalid" and excinfo.value.response is None


@pytest.mark.django_db
def test_a_5xx_naming_an_error_is_unavailable(tenant, rsps, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 1}
    rsps.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"})
    with pytest.raises(ImpersonationError) as excinfo:
        impersonation.get_access_token(tenant, ACCOUNT)
    error = excinfo.value
    assert (error.code, error.oauth_error) == (
        "authorization_server_unavailable",
        "temporarily_unavailable",
    )
