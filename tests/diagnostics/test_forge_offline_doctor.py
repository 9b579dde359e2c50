"""``connect_doctor forge-token --headers``: a call without a user token means as_user() needs
an offline token, and the doctor flags FORGE_OFFLINE_IMPERSONATION being off."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from django_atlassian_connect.diagnostics.forge import analyse_forge_token

pytestmark = pytest.mark.usefixtures("forge_settings")

HEADERS = ["authorization, x-b3-traceid, x-forge-oauth-system"]


def test_a_trigger_with_offline_impersonation_off_is_warned_about(platform):
    token = platform.mint_fit(kind="scheduled", module_key="forge-token-refresh")
    report = analyse_forge_token(token, headers=HEADERS)
    found = report.get("offline_impersonation_off")
    assert found is not None and found.severity == "warning", report.codes()
    assert "FORGE_OFFLINE_IMPERSONATION" in found.hint and "allowImpersonation: true" in found.hint
    assert "forge_manifest" in found.hint and "read:app-user-token alone" in found.hint
    assert report.healthy  # a warning: the token itself is fine
    assert report.facts["settings"]["FORGE_OFFLINE_IMPERSONATION"] is False


def test_no_warning_once_it_is_on_or_when_the_user_token_came(platform, settings):
    user = next(iter(platform.accounts))
    with_user_token = platform.mint_fit(account_id=user)
    both = [HEADERS[0] + ", x-forge-oauth-user"]
    assert (
        analyse_forge_token(with_user_token, headers=both).get("offline_impersonation_off") is None
    )
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_OFFLINE_IMPERSONATION": True,
    }
    token = platform.mint_fit(kind="scheduled", module_key="forge-token-refresh")
    report = analyse_forge_token(token, headers=HEADERS)
    assert report.get("offline_impersonation_off") is None
    assert report.facts["settings"]["FORGE_OFFLINE_IMPERSONATION"] is True


def test_the_command_prints_it_in_json(platform):
    token = platform.mint_fit(kind="scheduled", module_key="forge-token-refresh")
    out = io.StringIO()
    call_command(
        "connect_doctor", "forge-token", token, "--headers", HEADERS[0], "--json", stdout=out
    )
    report = json.loads(out.getvalue())
    codes = {f["code"]: f for f in report["findings"]}
    assert codes["offline_impersonation_off"]["cause"] == "offline_impersonation_off"
    assert token not in out.getvalue()
