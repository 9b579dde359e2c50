"""The example project's ``GET /forge/licensed`` (FIT + IsForgeLicensed), over real HTTP.

The example project runs as a real server on 127.0.0.1 and the simulated Forge platform
invokes it as Forge would, with the licence claim each test sets on the platform.
Contract: 200 ``{"licensed": true}`` for an active licence; 403 with a code otherwise
(never 401, which Forge reads as a bad token); 401 without a FIT.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import requests

from django_atlassian_connect.testing.forge import ForgePlatform, paid_license

from .conftest import ExampleApp, start_example_app

pytestmark = pytest.mark.e2e

COUNT_ROWS = (
    "from django_atlassian_connect.models import ForgeInstallation; "
    "print(ForgeInstallation.objects.filter(installation_id={id!r}).count())"
)


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgePlatform]:
    with ForgePlatform() as platform:
        platform.add_account("Alana Grant", "alana@example.com")
        yield platform


@pytest.fixture(scope="module")
def app(tmp_path_factory, forge) -> Iterator[ExampleApp]:
    env = {
        "CONNECT_FORGE_APP_ID": forge.app_id,
        "CONNECT_FORGE_JWKS_URL": forge.jwks_url,
        "CONNECT_FORGE_API_HOSTS": ",".join(forge.api_hosts),
    }
    example = start_example_app(tmp_path_factory.mktemp("licensed"), "http://127.0.0.1:9", env)
    forge.remote_base_url = example.base_url
    try:
        yield example
    finally:
        example.process.terminate()
        try:
            example.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            example.process.kill()


@pytest.fixture
def user(forge) -> str:
    return next(iter(forge.accounts))


def rows(app: ExampleApp, installation_id: str) -> int:
    result = app.manage("shell", "-c", COUNT_ROWS.format(id=installation_id))
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


def test_an_active_licence_is_licensed(app, forge, user):
    site = forge.add_installation("jira")
    forge.license = paid_license()
    assert rows(app, site.id) == 0
    response = forge.invoke("/forge/licensed", "GET", installation=site, account_id=user)
    assert response.status_code == 200, response.text
    assert response.json() == {"licensed": True}
    # The call that was accepted is this installation's: its first invocation recorded it.
    assert rows(app, site.id) == 1


@pytest.mark.parametrize(
    "license, code",
    [
        (paid_license(active=False, isActive=False), "forge_license_inactive"),
        (paid_license(active=False, isActive=True), "forge_license_inactive"),  # active wins
        (None, "forge_license_missing"),  # PRODUCTION without a licence
        ({"active": "yes"}, "forge_license_claim_invalid"),
    ],
)
def test_no_active_licence_is_403_with_a_code(app, forge, user, license, code):
    forge.license = license
    response = forge.invoke("/forge/licensed", "GET", account_id=user)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == code and body["detail"] and body["hint"]
    assert "WWW-Authenticate" not in response.headers


def test_without_a_fit_it_is_401(app, forge):
    response = requests.get(app.base_url + "/forge/licensed", timeout=10)
    assert response.status_code == 401 and response.json()["code"] == "token_missing"
