"""The example project as a Forge Remote, over real HTTP.

The example project runs as a real server on 127.0.0.1; the simulated Forge
platform (JWKS, API gateway) calls it as Forge would, and a simulated Connect
site installs it with the same installationId (Connect-on-Forge).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_atlassian_connect.testing.forge import ForgePlatform
from django_atlassian_connect.testing.host import ConnectHost

from .conftest import ExampleApp, forge_env, forge_example_app, start_example_app, stop

pytestmark = pytest.mark.e2e

APP_KEY = "com.example.django-connect-demo"
COUNT_ROWS = (
    "from django_atlassian_connect.models import ForgeInstallation; "
    "print(ForgeInstallation.objects.filter(**{kwargs}).count())"
)


def rows(app: ExampleApp, installation_id: str | None = None) -> int:
    """ForgeInstallation rows (of one installation): the e2e database may be shared (CI)."""
    kwargs = {"installation_id": installation_id} if installation_id else {}
    result = app.manage("shell", "-c", COUNT_ROWS.format(kwargs=repr(kwargs)))
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def site() -> Iterator[ConnectHost]:
    with ConnectHost(product="jira") as host:
        yield host


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgePlatform]:
    with ForgePlatform(connect_key=APP_KEY) as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        yield platform


@pytest.fixture(scope="module")
def app(tmp_path_factory, site, forge) -> Iterator[ExampleApp]:
    with forge_example_app(tmp_path_factory.mktemp("forge"), site, forge) as example:
        yield example


@pytest.fixture(scope="module")
def installation(app, site, forge) -> Any:
    """One Jira site on both sides: the Connect install carries the Forge installationId."""
    inst = forge.add_installation("jira", site_url=site.base_url)
    response = site.install(app.base_url + "/atlassian-connect.json", installation_id=inst.id)
    assert response.status_code == 204, response.text
    return inst


@pytest.fixture(scope="module")
def user(forge) -> str:
    return next(iter(forge.accounts))


def test_lifecycle_event_is_accepted(app, forge, installation):
    (attempt,) = forge.deliver_lifecycle("avi:forge:installed:app", installation)
    assert attempt.status == 204, attempt.response.text
    (wrapped,) = forge.deliver_lifecycle(
        "avi:forge:upgraded:app", installation, wrap_in_payload=True
    )
    assert wrapped.status == 204


def test_me_maps_the_invocation_to_the_connect_tenant(app, forge, site, installation, user):
    response = forge.invoke("/forge/me", "GET", installation=installation, account_id=user)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "installationId": installation.id,
        "cloudId": installation.cloud_id,
        "accountId": user,
        "clientKey": site.client_key,
        "environmentType": "PRODUCTION",
    }
    as_app = forge.invoke("/forge/me", "GET", installation=installation)
    assert as_app.json()["accountId"] is None


def test_myself_as_the_app_and_as_the_user(app, forge, installation, user):
    as_app = forge.invoke("/forge/myself?as=app", "GET", installation=installation, account_id=user)
    assert as_app.status_code == 200, as_app.text
    assert as_app.json()["accountType"] == "app"
    assert as_app.json()["accountId"] == forge.directory.app_account.account_id
    as_user = forge.invoke(
        "/forge/myself?as=user", "GET", installation=installation, account_id=user
    )
    assert as_user.status_code == 200, as_user.text
    assert as_user.json()["accountId"] == user
    calls = [c for c in forge.gateway.log if c["path"].endswith("/rest/api/3/myself")]
    assert [c["token_kind"] for c in calls[-2:]] == ["system", "user"]
    default = forge.invoke("/forge/myself", "GET", installation=installation)
    assert default.json()["accountType"] == "app"


def test_myself_as_user_without_a_user_is_409(app, forge, installation):
    response = forge.invoke("/forge/myself?as=user", "GET", installation=installation)
    assert response.status_code == 409
    assert response.json()["code"] == "forge_user_token_unavailable"
    wrong = forge.invoke("/forge/myself?as=both", "GET", installation=installation)
    assert wrong.status_code == 400 and "as=app or as=user" in wrong.json()["detail"]


def test_myself_without_any_system_token_is_409_and_sends_nothing(app, forge):
    fresh = forge.add_installation("jira")
    before = len(forge.gateway.log)
    response = forge.invoke("/forge/myself", "GET", installation=fresh, system_token=False)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "forge_token_expired" and body["detail"] and body["hint"]
    assert len(forge.gateway.log) == before


def test_myself_product_errors_are_502_not_500(app, forge, installation):
    forge.gateway.fail_next(500)
    response = forge.invoke("/forge/myself", "GET", installation=installation)
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "api_error"
    assert response.json()["productStatus"] == 500


def test_myself_rate_limited_is_503_then_waits_without_calling(app, forge):
    """A 429 longer than MAX_RETRY_AFTER: 503 now, then the backoff answers 503
    with what is left of it as Retry-After, and nothing reaches the gateway."""
    own = forge.add_installation("jira")  # its own quota: other tests are not held back
    forge.gateway.rate_limit(retry_after=600)
    first = forge.invoke("/forge/myself", "GET", installation=own)
    assert first.status_code == 503, first.text
    assert first.json()["code"] == "api_rate_limited"
    before = len(forge.gateway.log)
    second = forge.invoke("/forge/myself", "GET", installation=own)
    assert second.status_code == 503, second.text
    assert second.json()["code"] == "rate_limited_backoff" and second.json()["hint"]
    assert 500 < int(second.headers["Retry-After"]) <= 600
    assert len(forge.gateway.log) == before


def token_received_at(app: ExampleApp, installation_id: str) -> str:
    """When the stored app system token of one installation arrived (ISO 8601, or "None")."""
    code = (
        "from django_atlassian_connect.models import ForgeInstallation; "
        f"row = ForgeInstallation.objects.get(installation_id={installation_id!r}); "
        "print(row.system_token_received_at and row.system_token_received_at.isoformat())"
    )
    result = app.manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_scheduled_trigger(app, forge, installation):
    forge.invoke("/forge/me", "GET", installation=installation)  # a system token is stored
    before = token_received_at(app, installation.id)
    forge.expire_system_token(installation)  # the trigger brings a newer one
    response = forge.trigger_scheduled(installation)
    assert response.status_code == 204, response.text
    after = token_received_at(app, installation.id)
    assert before != "None" and after > before


def test_expired_fit_is_refused_and_changes_nothing(app, forge, installation, user):
    before = rows(app)
    fit = forge.mint_fit(installation, account_id=user, overrides={"exp": 1, "iat": 0, "nbf": 0})
    for path in ("/forge/me", "/forge/myself?as=app"):
        response = requests.get(
            app.base_url + path, headers={"Authorization": f"Bearer {fit}"}, timeout=10
        )
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired" and response.json()["detail"]
        assert response.headers["WWW-Authenticate"].startswith(
            f'Bearer realm="{APP_KEY}", error="token_expired"'
        )
    missing = requests.get(app.base_url + "/forge/me", timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "token_missing"
    stranger = forge.add_installation("jira")
    fit = forge.mint_fit(stranger, kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    response = requests.post(
        app.base_url + "/forge/lifecycle",
        json={"eventType": "avi:forge:installed:app", "id": stranger.uuid},
        headers={"Authorization": f"Bearer {fit}"},
        timeout=10,
    )
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    assert rows(app) == before


def test_forge_paths_are_post_only_and_never_redirect(app, forge, installation):
    response = requests.get(app.base_url + "/forge/lifecycle", timeout=10, allow_redirects=False)
    assert response.status_code in (401, 405)
    headers = forge.invocation_headers(installation, kind="event")
    response = requests.get(
        app.base_url + "/forge/lifecycle", headers=headers, timeout=10, allow_redirects=False
    )
    assert response.status_code == 405
    for path in ("/forge/lifecycle", "/forge/scheduled"):
        response = requests.post(app.base_url + path, timeout=10, allow_redirects=False)
        assert response.status_code == 401, (path, response.status_code)


def test_jwks_down_before_the_first_fetch_is_503_and_writes_nothing(tmp_path, site):
    with ForgePlatform(connect_key=APP_KEY) as platform:
        platform.jwks.fault = "down"
        example = start_example_app(tmp_path, site.keys_url, forge_env(platform, min_refresh=1))
        try:
            platform.remote_base_url = example.base_url
            inst = platform.add_installation("jira")
            (attempt,) = platform.deliver_lifecycle("avi:forge:installed:app", inst, retries=0)
            assert attempt.status == 503, attempt.response.text
            body = attempt.response.json()
            assert body["code"] == "key_unavailable" and body["detail"]
            assert attempt.response.headers["Retry-After"]
            assert attempt.failure == "INVALID_REMOTE_INVOCATION_ERROR"  # retried, not "bad FIT"
            ui = platform.invoke("/forge/me", "GET", installation=inst)
            assert ui.status_code == 503 and ui.json()["code"] == "key_unavailable"
            assert rows(example, inst.id) == 0
            # The JWKS is back: Forge's retry (after the refetch window) is accepted.
            platform.jwks.fault = None
            time.sleep(1.2)
            (retry,) = platform.deliver_lifecycle("avi:forge:installed:app", inst, retries=0)
            assert retry.status == 204
            assert rows(example, inst.id) == 1
        finally:
            stop(example)


def test_forge_urls_do_not_exist_without_an_app_id(example_app):
    # The conftest's example app runs without CONNECT_FORGE_APP_ID.
    for path in ("/forge/lifecycle", "/forge/scheduled", "/forge/me", "/forge/myself"):
        response = requests.post(example_app.base_url + path, timeout=10, allow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
