"""The simulated gateway's offlineUserAuthToken models both contextIds answers, and the
platform mints FITs with licence and userAccess claims.

Checked from the outside, as an app sees it: HTTP on 127.0.0.1 and plain PyJWT.
"""

from __future__ import annotations

import jwt
import pytest
import requests

from django_atlassian_connect.testing.forge import ForgePlatform, paid_license
from django_atlassian_connect.testing.forge.impersonation import SITE, WORKSPACE, context_ids
from django_atlassian_connect.testing.forge.mint import trial_license, user_access

QUERY = (
    "mutation forge_remote_offlineUserAuthToken($input: OfflineUserAuthTokenInput!) "
    "{ offlineUserAuthToken(input: $input) { success errors { message } authToken { token ttl } } }"
)


@pytest.fixture
def forge():
    with ForgePlatform() as platform:
        platform.add_account("Alana Grant")
        platform.add_installation("jira")
        yield platform


@pytest.fixture
def user(forge):
    return next(iter(forge.accounts))


def mutate(forge, context: list[str], user_id: str, token: str | None = None) -> dict:
    response = requests.post(
        forge.gateway_url + "/graphql",
        json={"query": QUERY, "variables": {"input": {"contextIds": context, "userId": user_id}}},
        headers={"Authorization": f"Bearer {token or forge.system_token()}"},
        timeout=5,
    )
    assert response.status_code == 200  # errors come inside a 200
    return response.json()["data"]["offlineUserAuthToken"]


def test_by_default_the_site_form_is_taken_and_the_workspace_form_refused(forge, user):
    inst = forge.installation()
    forms = context_ids(inst)
    assert forms[SITE] == f"ari:cloud:jira::site/{inst.cloud_id}"
    assert forms[WORKSPACE] == f"ari:cloud:jira:{inst.cloud_id}:workspace/{inst.cloud_id}"
    ok = mutate(forge, [forms[SITE]], user)
    assert (
        ok["success"] is True and forge.issued[ok["authToken"]["token"]].context_id == forms[SITE]
    )
    refused = mutate(forge, [forms[WORKSPACE]], user)
    assert refused["success"] is False and refused["authToken"] is None
    (error,) = refused["errors"]
    assert error["message"] == (
        "Could not load permissions for app user in the provided contextIds of "
        f"[{forms[WORKSPACE]}]"
    )
    assert forge.gateway.log[-1]["context_ids"] == [forms[WORKSPACE]]


def test_a_test_chooses_the_form_the_real_gateway_takes(forge, user):
    inst = forge.installation()
    forms = context_ids(inst)
    forge.gateway.impersonation.accepted_forms = {WORKSPACE}
    assert mutate(forge, [forms[SITE]], user)["success"] is False
    ok = mutate(forge, [forms[WORKSPACE]], user)
    record = forge.issued[ok["authToken"]["token"]]
    assert (record.kind, record.account_id, record.context_id) == (
        "offline",
        user,
        forms[WORKSPACE],
    )
    other = forge.add_installation("confluence")
    forge.gateway.impersonation.per_installation[other.id] = {SITE}
    other_token = forge.system_token(other)
    assert mutate(forge, [context_ids(other)[SITE]], user, other_token)["success"] is True
    assert mutate(forge, [context_ids(other)[WORKSPACE]], user, other_token)["success"] is False


def test_an_app_without_allow_impersonation_gets_no_token_in_any_form(forge, user):
    forge.gateway.impersonation.allowed = False
    for form in (SITE, WORKSPACE):
        refused = mutate(forge, [context_ids(forge.installation())[form]], user)
        assert refused["success"] is False
        assert refused["errors"][0]["message"].startswith("Could not load permissions")
    assert not [r for r in forge.issued.values() if r.kind == "offline"]


def test_another_installations_site_is_refused_like_a_wrong_form(forge, user):
    other = forge.add_installation("jira")
    refused = mutate(forge, [context_ids(other)[SITE]], user)
    assert refused["errors"][0]["message"].startswith("Could not load permissions")


def test_fits_carry_the_licence_and_user_access_claims(forge, user):
    fit = forge.mint_fit(
        account_id=user, license=trial_license(active=False), user_access=user_access()
    )
    claims = jwt.decode(fit, options={"verify_signature": False})
    assert claims["app"]["license"]["active"] is False
    assert claims["app"]["license"]["isEvaluation"] is True
    assert claims["app"]["license"]["trialEndDate"] == "2027-06-08T00:00:00.000Z"
    assert claims["context"]["userAccess"] == {"enabled": True, "hasAccess": True}
    # Forge sends userAccess on UI calls only, and a free app has no licence.
    scheduled = forge.mint_fit(kind="scheduled", user_access=user_access())
    bare = jwt.decode(scheduled, options={"verify_signature": False})
    assert "userAccess" not in bare["context"] and "license" not in bare["app"]
    forge.license = paid_license(active=False)
    platform_wide = jwt.decode(forge.mint_fit(), options={"verify_signature": False})
    assert platform_wide["app"]["license"]["active"] is False
