"""ForgeClient: calls through the simulated Forge API gateway over real HTTP on 127.0.0.1
(``responses`` where a transport-level mock is simpler), and the token housekeeping."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from django_atlassian_connect import maintenance, tasks
from django_atlassian_connect.exceptions import ConnectAPIError, ConnectClientError
from django_atlassian_connect.forge import offline, verify_invocation
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.installations import get_installation, record_invocation
from django_atlassian_connect.models import ForgeInstallation
from tests.connect.test_client import UNSAFE_PATHS

pytestmark = pytest.mark.django_db

GATEWAY_API = "https://api.atlassian.com/ex/jira/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"


@pytest.fixture(autouse=True)
def _forget_offline_tokens():
    offline.clear_memory_cache()
    yield
    offline.clear_memory_cache()


def invocation(forge, installation=None, **headers_args):
    """A verified ForgeContext, as a Forge view gets it."""
    headers = forge.invocation_headers(installation, **headers_args)
    return verify_invocation(RequestFactory().get("/forge/x", headers=headers))


def installed(forge, installation=None, **headers_args):
    """The stored row after one invocation (with the system token unless told otherwise)."""
    ctx = invocation(forge, installation, **headers_args)
    return record_invocation(ctx), ctx


def user_of(forge):
    return next(iter(forge.accounts))


def api_calls(forge, path_end=""):
    return [e for e in forge.gateway.log if e["path"].endswith(path_end)]


def fingerprint(forge, token):
    return forge.issued[token].fingerprint


# -- as the app ----------------------------------------------------------------------------------


def test_as_app_from_a_job_uses_the_stored_token(forge_host):
    row, _ = installed(forge_host)
    body = ForgeClient(get_installation(row.installation_id)).as_app().get("/rest/api/3/myself")
    assert body.json()["accountType"] == "app"
    (call,) = api_calls(forge_host)
    assert call["path"].endswith("/rest/api/3/myself") and call["token_kind"] == "system"
    assert call["token"] == fingerprint(forge_host, forge_host.current_system_token())


def test_as_app_takes_the_fresher_of_invocation_and_stored_token(forge_host):
    row, old_ctx = installed(forge_host)
    forge_host.gateway.issue_system_token()  # Forge rotates: the next call carries a newer one
    new_ctx = invocation(forge_host)
    assert new_ctx.system_token != old_ctx.system_token
    ForgeClient(row, invocation=new_ctx).as_app().get("/rest/api/3/myself")
    assert api_calls(forge_host)[-1]["token"] == fingerprint(forge_host, new_ctx.system_token)
    newer_row = record_invocation(new_ctx)
    ForgeClient(newer_row, invocation=old_ctx).as_app().get("/rest/api/3/myself")
    assert api_calls(forge_host)[-1]["token"] == fingerprint(forge_host, new_ctx.system_token)


def test_no_fresh_token_raises_before_any_request(forge_host, settings):
    row, ctx = installed(forge_host, system_token=False)
    assert row.system_token is None
    for client in (ForgeClient(row), ForgeClient(row, invocation=ctx)):
        with pytest.raises(ConnectClientError) as info:
            client.as_app()
        assert info.value.code == "forge_token_expired"
        assert info.value.installation == row and row.installation_id in str(info.value)
        assert "hourly scheduledTrigger" in info.value.hint
    assert "no x-forge-oauth-system" in info.value.detail
    # A stored token within FORGE_TOKEN_MARGIN of its end is not used either.
    row, _ = installed(forge_host)
    row.system_token_expires_at = timezone.now() + timedelta(seconds=30)
    row.save()
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_app()
    assert info.value.code == "forge_token_expired" and "FORGE_TOKEN_MARGIN" in info.value.detail
    assert forge_host.gateway.log == []
    token = forge_host.current_system_token()
    assert token not in str(info.value) + repr(info.value)


def test_a_long_held_row_is_read_again_for_a_newer_token(forge_host):
    row, _ = installed(forge_host, system_token=False)
    held = get_installation(row.installation_id)
    installed(forge_host)  # the hourly trigger stores a token meanwhile
    ForgeClient(held).as_app().get("/rest/api/3/myself")
    assert api_calls(forge_host)[-1]["token_kind"] == "system"


def test_invocation_for_another_installation_is_refused(forge_host):
    other = forge_host.add_installation("jira")
    row, _ = installed(forge_host)
    with pytest.raises(ValueError):
        ForgeClient(row, invocation=invocation(forge_host, other))


# -- as a user -------------------------------------------------------------------------------------


def test_as_user_for_the_invocations_principal_uses_its_user_token(forge_host):
    account = user_of(forge_host)
    row, ctx = installed(forge_host, account_id=account)
    body = ForgeClient(row, invocation=ctx).as_user(account).get("/rest/api/3/myself").json()
    assert body["accountId"] == account
    assert [c["token_kind"] for c in forge_host.gateway.log] == ["user"]


def test_another_user_gets_one_offline_token_cached_encrypted(forge_host):
    other = forge_host.add_account("Bo Lee").account_id
    row, ctx = installed(forge_host, account_id=user_of(forge_host))
    first = ForgeClient(row, invocation=ctx).as_user(other).get("/rest/api/3/myself")
    offline.clear_memory_cache()  # another process: the Django cache serves it
    second = ForgeClient(row).as_user(other).get("/rest/api/3/myself")
    assert first.json()["accountId"] == second.json()["accountId"] == other
    graphql = api_calls(forge_host, "/graphql")
    assert len(graphql) == 1 and graphql[0]["token_kind"] == "system"
    myself = api_calls(forge_host, "/myself")
    assert [(c["token_kind"], c["account_id"]) for c in myself] == [("offline", other)] * 2
    (token,) = [t for t, r in forge_host.issued.items() if r.kind == "offline"]
    stored = {k: v for k, v in cache._cache.items() if "forge_offline" in k}  # LocMemCache
    assert stored and not any(token.encode() in value for value in cache._cache.values())


def test_a_principal_without_its_user_token_falls_back_to_an_offline_token(forge_host):
    account = user_of(forge_host)
    row, ctx = installed(forge_host, account_id=account, user_token=False)
    ForgeClient(row, invocation=ctx).as_user(account).get("/rest/api/3/myself")
    assert [c["token_kind"] for c in forge_host.gateway.log] == ["system", "offline"]


def test_concurrent_callers_make_one_mutation(forge_host):
    other = forge_host.add_account("Cy").account_id
    row, _ = installed(forge_host)
    errors = []

    def call():
        try:
            ForgeClient(row).as_user(other)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(api_calls(forge_host, "/graphql")) == 1


def test_a_refused_offline_token_is_dropped_and_asked_again(forge_host):
    other = forge_host.add_account("Di").account_id
    row, _ = installed(forge_host)
    session = ForgeClient(row).as_user(other)
    (record,) = [r for r in forge_host.issued.values() if r.kind == "offline"]
    forge_host.tokens.expire(record)
    with pytest.raises(ConnectAPIError) as info:
        session.get("/rest/api/3/myself")
    assert info.value.status_code == 401
    assert session.get("/rest/api/3/myself").json()["accountId"] == other
    assert len(api_calls(forge_host, "/graphql")) == 2


def test_offline_errors_carry_the_gateways_messages(forge_host):
    row, _ = installed(forge_host)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_user("557058:nobody")
    error = info.value
    assert error.code == "forge_user_token_unavailable" and error.status == 200
    assert any("not found" in m for m in error.gateway_messages)
    assert "not found" in error.detail and error.installation == row
    assert api_calls(forge_host, "/myself") == []


def test_offline_needs_a_fresh_system_token(forge_host):
    other = forge_host.add_account("Ed").account_id
    row, _ = installed(forge_host, system_token=False)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_user(other)
    assert info.value.code == "forge_token_expired" and forge_host.gateway.log == []


@pytest.mark.parametrize(
    "answer, said",
    [
        ({"data": None, "errors": [{"message": "Rate limit exceeded"}]}, "Rate limit exceeded"),
        (
            {"data": {"offlineUserAuthToken": {"success": False, "errors": [], "authToken": None}}},
            "success is false",
        ),
        ({"data": {"offlineUserAuthToken": {"success": True, "authToken": {"ttl": 900}}}}, "no"),
        ("<html>", "not JSON"),
    ],
)
def test_offline_answers_that_are_not_a_token(gateway_row, rsps, answer, said):
    if isinstance(answer, str):
        rsps.post("https://api.atlassian.com/graphql", body=answer, status=200)
    else:
        rsps.post("https://api.atlassian.com/graphql", json=answer, status=200)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(gateway_row).as_user("557058:someone")
    assert info.value.code == "forge_user_token_unavailable" and said in info.value.detail
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["variables"]["input"] == {
        "contextIds": ["ari:cloud:jira::site/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"],
        "userId": "557058:someone",
    }
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer stored-system-token"


def test_offline_http_error_names_the_status(gateway_row, rsps):
    rsps.post("https://api.atlassian.com/graphql", json={"message": "Unauthorized"}, status=401)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(gateway_row).as_user("557058:someone")
    assert info.value.code == "forge_user_token_unavailable" and info.value.status == 401
    assert "system token" in info.value.hint and "stored-system-token" not in str(info.value)


# -- URLs ------------------------------------------------------------------------------------------


@pytest.fixture
def gateway_row():
    """An installation on the real gateway host (for ``responses`` mocks)."""
    return ForgeInstallation.objects.create(
        installation_id="ari:cloud:ecosystem::installation/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        product="jira",
        cloud_id="0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
        api_base_url=GATEWAY_API,
        first_seen_at=timezone.now() - timedelta(days=3),
        system_token="stored-system-token",
        system_token_expires_at=timezone.now() + timedelta(hours=2),
    )


def test_urls_outside_the_api_base_url_are_refused_before_sending(forge_host):
    row, _ = installed(forge_host)
    other_site = forge_host.add_installation("jira")
    session = ForgeClient(row).as_app()
    for url in (
        "https://evil.example.com/rest/api/3/myself",
        other_site.api_base_url + "/rest/api/3/myself",  # another cloudId on the same gateway
        row.api_base_url + "/../" + other_site.cloud_id + "/rest/api/3/myself",
        row.api_base_url + "/%2e%2e/" + other_site.cloud_id + "/rest/api/3/myself",
        forge_host.gateway_url + "/graphql",
        "https://site.atlassian.net/rest/api/3/myself",
    ):
        with pytest.raises(ConnectClientError) as info:
            session.get(url)
        assert info.value.code == "url_not_allowed", url
        assert info.value.url and info.value.method == "GET"
        assert info.value.installation == row
    assert forge_host.gateway.log == []


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_encoded_separators_and_dot_segments_in_a_path_are_refused(gateway_row, rsps, path):
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(gateway_row).as_app().get(path)
    error = info.value
    assert error.code == "url_not_allowed" and error.installation == gateway_row
    assert "%2F" in error.hint and "query" in error.hint
    assert len(rsps.calls) == 0


def test_an_api_base_url_off_forge_api_hosts_is_refused(forge_host, settings):
    row, _ = installed(forge_host)
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_API_HOSTS": ["api.atlassian.com"],
    }
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_app()
    assert info.value.code == "url_not_allowed" and "FORGE_API_HOSTS" in info.value.detail
    assert forge_host.gateway.log == []


def test_confluence_paths_keep_wiki(forge_host):
    site = forge_host.add_installation("confluence")
    row, _ = installed(forge_host, site)
    session = ForgeClient(row).as_app()
    assert session.get("/wiki/rest/api/user/current").json()["type"] == "app"
    assert session.get(row.api_base_url + "/wiki/rest/api/user/current").ok
    with pytest.raises(ConnectAPIError) as info:
        session.get("/rest/api/user/current")  # the Connect habit: /wiki left out
    assert info.value.status_code == 404 and "/wiki" in info.value.hint


def test_redirects_elsewhere_lose_the_token(gateway_row, rsps):
    rsps.get(
        GATEWAY_API + "/rest/api/3/moved",
        status=302,
        headers={"Location": "https://elsewhere.example.com/x"},
    )
    rsps.get(GATEWAY_API + "/rest/api/3/here", status=302, headers={"Location": "/rest/api/3/x"})
    rsps.get("https://elsewhere.example.com/x", json={})
    rsps.get("https://api.atlassian.com/rest/api/3/x", json={})
    session = ForgeClient(gateway_row).as_app()
    session.get("/rest/api/3/moved")
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer stored-system-token"
    assert "Authorization" not in rsps.calls[1].request.headers
    session.get("/rest/api/3/here")  # same origin, outside the apiBaseUrl path
    assert "Authorization" not in rsps.calls[3].request.headers
    assert rsps.calls[0].request.headers["User-Agent"].startswith("django-atlassian-connect/")
    assert "Authorization" not in session.headers
    assert "stored-system-token" not in repr(session) + repr(ForgeClient(gateway_row))


# -- the product's answers ------------------------------------------------------------------------


def test_429_retry_after_is_honoured(forge_host):
    row, _ = installed(forge_host)
    forge_host.gateway.rate_limit(retry_after=1)
    started = time.monotonic()
    assert ForgeClient(row).as_app().get("/rest/api/3/myself").ok
    assert time.monotonic() - started >= 0.9
    assert [c["status"] for c in forge_host.gateway.log] == [429, 200]


def test_401_is_a_connect_api_error_explaining_fresh_installs(forge_host):
    row, _ = installed(forge_host)
    forge_host.expire_system_token()  # the gateway refuses it; our copy looks fresh
    with pytest.raises(ConnectAPIError) as info:
        ForgeClient(row).as_app().get("/rest/api/3/myself")
    error = info.value
    assert (error.code, error.status, error.method) == ("api_unauthorized", 401, "GET")
    assert error.url.endswith("/rest/api/3/myself") and error.response.status_code == 401
    assert error.installation == row and "granted eventually" in error.hint
    assert "first seen" in error.hint  # installed seconds ago
    token = row.system_token
    assert token not in str(error) + repr(error) + error.hint


def test_403_names_scopes_and_the_bot_users_permissions(gateway_row, rsps):
    rsps.get(GATEWAY_API + "/rest/api/3/project", status=403, json={"message": "No access"})
    with pytest.raises(ConnectAPIError) as info:
        ForgeClient(gateway_row).as_app().get("/rest/api/3/project")
    assert info.value.status_code == 403 and "permissions.scopes" in info.value.hint
    assert "granted eventually" in info.value.hint and "No access" in info.value.hint
    response = ForgeClient(gateway_row).as_app(raise_for_status=False).get("/rest/api/3/project")
    assert response.status_code == 403


# -- housekeeping ----------------------------------------------------------------------------------


def test_report_forge_tokens_warns_about_tokens_running_out(forge_host, caplog):
    fresh, _ = installed(forge_host)
    soon, _ = installed(forge_host, forge_host.add_installation("jira"))
    soon.system_token_expires_at = timezone.now() + timedelta(minutes=30)
    soon.save()
    none, _ = installed(forge_host, forge_host.add_installation("jira"), system_token=False)
    fresh.system_token_expires_at = timezone.now() + timedelta(hours=3)
    fresh.save()
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        assert maintenance.report_forge_tokens() == {"running_out": 2, "expired": 1}
    (record,) = [r for r in caplog.records if "Forge installation" in r.getMessage()]
    message = record.getMessage()
    assert soon.installation_id in message and none.installation_id in message
    assert fresh.installation_id not in message and soon.system_token not in message
    assert tasks.report_forge_tokens.apply().get() == {"running_out": 2, "expired": 1}
    out = StringIO()
    call_command("connect_housekeeping", "report_forge_tokens", stdout=out)
    assert json.loads(out.getvalue().split(": ", 1)[1]) == {"running_out": 2, "expired": 1}
