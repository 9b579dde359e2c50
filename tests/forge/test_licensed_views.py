"""IsForgeLicensed (DRF) and forge_license_required (plain views), through Django's test client
with real FITs from the simulated Forge platform (``forge_host``, ``forge_client``).

Accepted calls are checked for who was accepted (installation and user), refusals for a
403 with a code (never 401: Forge reads that as a bad token) and for the 401 that a missing
or bad token still gets.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import ForgeInvocationAuthentication
from django_atlassian_connect.decorators import forge_invocation_required, forge_license_required
from django_atlassian_connect.forge import jwks
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.permissions import IsForgeLicensed
from django_atlassian_connect.testing.forge import paid_license
from django_atlassian_connect.testing.forge.mint import trial_license, user_access
from tests.conftest import assert_refused

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


# -- views under test ----------------------------------------------------------------------------


def _who(context: ForgeContext, **extra: Any) -> dict[str, Any]:
    found = context.license_info
    return {
        "installationId": context.installation_id,
        "accountId": context.principal,
        "active": found.active if found else None,
        "capabilitySet": found.capability_set if found else None,
        **extra,
    }


class Licensed(APIView):
    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsForgeLicensed]

    def get(self, request):
        return Response(_who(request.auth, principal=str(request.user)))


class LicensedPerUser(Licensed):
    permission_classes = [type("PerUser", (IsForgeLicensed,), {"user_access": True})]


@forge_license_required
def plain(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request.forge, row=request.forge_installation.installation_id))


@forge_license_required
async def plain_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request.forge, is_async=True))


@forge_license_required(user_access=True)
def plain_per_user(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request.forge))


@forge_invocation_required
@forge_license_required
def stacked_inside(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request.forge))


@forge_license_required
@forge_invocation_required
def stacked_outside(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_who(request.forge))


urlpatterns = [
    path("forge/licensed", Licensed.as_view()),
    path("forge/licensed-per-user", LicensedPerUser.as_view()),
    path("forge/plain", plain),
    path("forge/plain-async", plain_async),
    path("forge/plain-per-user", plain_per_user),
    path("forge/stacked-inside", stacked_inside),
    path("forge/stacked-outside", stacked_outside),
]
VIEWS = ["/forge/licensed", "/forge/plain", "/forge/plain-async"]


@pytest.fixture(autouse=True)
def _fresh_jwks():
    jwks.clear_memory_cache()
    yield
    jwks.clear_memory_cache()


def call(forge_client, path_: str, **mint: Any) -> Any:
    """One invocation as the client's user, its FIT minted with ``mint`` (license=...)."""
    fit = forge_client.platform.mint_fit(
        forge_client.installation, account_id=forge_client.account_id, **mint
    )
    return forge_client.get(path_, fit=fit)


def assert_forbidden(response: Any, code: str) -> dict[str, Any]:
    body = assert_refused(response, code, 403)
    assert "WWW-Authenticate" not in response
    return body


# -- accepted --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*VIEWS, "/forge/stacked-inside", "/forge/stacked-outside"])
def test_an_active_licence_is_accepted_for_its_installation_and_user(forge_client, url):
    response = call(forge_client, url, license=paid_license(capabilitySet="capabilityAdvanced"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["installationId"] == forge_client.installation.id
    assert body["accountId"] == forge_client.account_id
    assert body["active"] is True and body["capabilitySet"] == "capabilityAdvanced"


def test_drf_and_plain_views_name_the_same_caller(forge_client):
    drf = call(forge_client, "/forge/licensed", license=paid_license()).json()
    plain_body = call(forge_client, "/forge/plain", license=paid_license()).json()
    assert drf["principal"] == forge_client.account_id
    assert plain_body["row"] == forge_client.installation.id


def test_stacked_decorators_admit_the_fit_once(forge_client, settings):
    # A second admission of the same FIT would be refused as a replay.
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_REJECT_REPLAYED_JTI": True}
    for url in ("/forge/stacked-inside", "/forge/stacked-outside"):
        response = call(forge_client, url, license=paid_license())
        assert response.status_code == 200, response.content
        assert response.json()["accountId"] == forge_client.account_id


def test_an_absent_licence_outside_production_is_accepted(forge_client):
    staging = {"app.environment.type": "STAGING"}
    for url in VIEWS:
        response = call(forge_client, url, overrides=staging)
        assert response.status_code == 200, response.content
        assert response.json()["active"] is None
        assert response.json()["accountId"] == forge_client.account_id


def test_events_and_triggers_pass_on_the_licence_alone(forge_client, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_USER_BASED_BILLING": True}
    app = forge_client.as_app()
    response = call(app, "/forge/plain", license=paid_license(), kind="scheduled")
    assert response.status_code == 200, response.content
    assert response.json()["accountId"] is None
    assert response.json()["installationId"] == app.installation.id


# -- refused: 403 with a code ----------------------------------------------------------------------


@pytest.mark.parametrize("url", VIEWS)
def test_an_inactive_licence_is_403_never_401(forge_client, url):
    inactive = paid_license(active=False, isActive=False)
    assert_forbidden(call(forge_client, url, license=inactive), "forge_license_inactive")
    # active wins over the deprecated isActive.
    stale = paid_license(active=False, isActive=True)
    assert_forbidden(call(forge_client, url, license=stale), "forge_license_inactive")


@pytest.mark.parametrize("url", VIEWS)
def test_an_absent_licence_in_production_is_403(forge_client, url):
    body = assert_forbidden(call(forge_client, url), "forge_license_missing")
    assert "FORGE_ABSENT_LICENSE" in body["hint"]


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("claim", [{"active": "yes"}, ["active"], {"active": True, "modes": 1}])
def test_a_licence_claim_of_the_wrong_type_is_403_not_500(forge_client, url, claim):
    response = call(forge_client, url, overrides={"app.license": claim})
    assert_forbidden(response, "forge_license_claim_invalid")


def test_an_expired_trial_names_its_end(forge_client):
    ended = trial_license(trial_end="1812412800000", active=False)
    body = assert_forbidden(
        call(forge_client, "/forge/plain", license=ended), "forge_license_inactive"
    )
    assert "2027-06-08" in body["detail"]


@pytest.mark.parametrize("url", ["/forge/licensed-per-user", "/forge/plain-per-user"])
def test_a_user_without_access_is_403_when_the_view_checks_users(forge_client, url):
    licensed = paid_license()
    no_access = user_access(has_access=False)
    assert_forbidden(
        call(forge_client, url, license=licensed, user_access=no_access),
        "forge_user_access_denied",
    )
    assert_forbidden(call(forge_client, url, license=licensed), "forge_user_access_unknown")
    ok = call(forge_client, url, license=licensed, user_access=user_access())
    assert ok.status_code == 200 and ok.json()["accountId"] == forge_client.account_id
    bad = call(forge_client, url, license=licensed, user_access={"hasAccess": "true"})
    assert_forbidden(bad, "forge_user_access_claim_invalid")


def test_user_based_billing_setting_turns_the_user_check_on(forge_client, settings):
    no_access = user_access(has_access=False)
    before = call(forge_client, "/forge/plain", license=paid_license(), user_access=no_access)
    assert before.status_code == 200 and before.json()["accountId"] == forge_client.account_id
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_USER_BASED_BILLING": True}
    for url in VIEWS:
        response = call(forge_client, url, license=paid_license(), user_access=no_access)
        assert_forbidden(response, "forge_user_access_denied")


def test_refusal_bodies_follow_expose_hints(forge_client, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "EXPOSE_HINTS": False}
    for url in VIEWS:
        body = call(forge_client, url, license=paid_license(active=False)).json()
        assert body["code"] == "forge_license_inactive" and "hint" not in body


# -- the token itself is still a 401 ---------------------------------------------------------------


@pytest.mark.parametrize("url", VIEWS)
def test_no_fit_is_still_401_and_a_forged_one_too(forge_client, url):
    response = forge_client.django.get(url)
    assert_refused(response, "token_missing", 401, scheme="Bearer")
    forged = forge_client.platform.mint_fit(license=paid_license(), overrides={"aud": "x"})
    assert forge_client.get(url, fit=forged).status_code == 401


def test_the_views_are_marked_as_forge_views():
    for view in (plain, plain_async, plain_per_user, stacked_inside, stacked_outside):
        assert view.connect_token_kind == "forge" and view.csrf_exempt
