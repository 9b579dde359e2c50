"""The licence and user-access claims, typed (forge.licensing), as ForgeContext exposes them,
and the decision of forge.access.check_access for every environment and billing mode.

The claims come from the simulated platform's minting (testing/forge/mint.py): the same
shapes Forge documents in its remote invocation contract.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from django_atlassian_connect.forge.access import (
    ForgeAccessDenied,
    absent_license_counts_as_licensed,
    check_access,
)
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.forge.licensing import (
    ClaimShapeError,
    parse_date,
    parse_license,
    parse_user_access,
)
from django_atlassian_connect.testing.forge import Directory, edit_claims, fit_claims, paid_license
from django_atlassian_connect.testing.forge.mint import trial_license, user_access

ADA = "557058:0f0f0f0f-1111-4222-8333-444444444444"


def context(
    *,
    license: Any = None,
    environment: str = "PRODUCTION",
    principal: str | None = ADA,
    access: Any = None,
    overrides: dict[str, Any] | None = None,
    kind: str = "ui",
) -> ForgeContext:
    """A ForgeContext as a Forge view gets it, from minted claims."""
    directory = Directory(environment_type=environment)
    installation = directory.add_installation("http://127.0.0.1:9", "jira")
    claims = fit_claims(
        app_id=directory.app_id,
        installation=installation,
        environment=directory.environment,
        kind=kind,
        principal=principal,
        license=license if isinstance(license, dict) else None,
        user_access=access if isinstance(access, dict) else None,
    )
    changes = dict(overrides or {})
    if license is not None and not isinstance(license, dict):
        changes["app.license"] = license
    if access is not None and not isinstance(access, dict):
        changes["context.userAccess"] = access
    return ForgeContext.from_claims(edit_claims(claims, changes))


# -- parsing -----------------------------------------------------------------------------------------


def test_a_paid_licence_is_typed():
    found = parse_license(paid_license(capabilitySet="capabilityAdvanced", type="commercial"))
    assert found is not None and found.active is True
    assert found.capability_set == "capabilityAdvanced" and found.type == "COMMERCIAL"
    assert found.billing_period == "MONTHLY" and found.is_evaluation is False
    assert found.subscription_end_date == datetime(2027, 3, 1, tzinfo=UTC)
    assert found.trial_end_date is None and found.modes == ("USER_ACCESS",)
    assert found.user_access_mode


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2027-06-08T00:00:00.000Z", datetime(2027, 6, 8, tzinfo=UTC)),
        ("2027-06-08T02:00:00+02:00", datetime(2027, 6, 8, tzinfo=UTC)),
        ("2027-06-08", datetime(2027, 6, 8, tzinfo=UTC)),
        ("1812412800000", datetime(2027, 6, 8, tzinfo=UTC)),  # the older epoch-ms strings
        (1812412800000, datetime(2027, 6, 8, tzinfo=UTC)),
        (None, None),
    ],
)
def test_trial_end_dates_in_iso_and_epoch_milliseconds(value, expected):
    assert parse_date(value, field="trialEndDate") == expected
    found = parse_license(trial_license(trial_end=value))
    assert found is not None and found.trial_end_date == expected and found.is_evaluation


@pytest.mark.parametrize("value", ["next tuesday", True, 1.5, [2027], "9" * 30])
def test_a_date_that_is_no_date_is_refused_by_name(value):
    with pytest.raises(ClaimShapeError) as info:
        parse_license(paid_license(trialEndDate=value))
    assert info.value.claim == "app.license" and info.value.field == "trialEndDate"


@pytest.mark.parametrize(
    "claim, active",
    [
        ({"active": True, "isActive": False}, True),  # active wins over the deprecated twin
        ({"active": False, "isActive": True}, False),
        ({"isActive": True}, True),  # only the deprecated one: it is used
        ({"isActive": False}, False),
        ({"active": True, "isActive": None}, True),
    ],
)
def test_active_is_preferred_over_the_deprecated_is_active(claim, active):
    found = parse_license(claim)
    assert found is not None and found.active is active


@pytest.mark.parametrize(
    "claim, field",
    [
        ({"active": "yes"}, "active"),
        ({"active": 1}, "active"),
        ({"active": None, "isActive": "true"}, "isActive"),
        ({"billingPeriod": "MONTHLY"}, "active"),  # no flag at all
        ({"active": True, "capabilitySet": ["capabilityStandard"]}, "capabilitySet"),
        ({"active": True, "isEvaluation": "false"}, "isEvaluation"),
        ({"active": True, "modes": "USER_ACCESS"}, "modes"),
        ({"active": True, "type": 3}, "type"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_by_name(claim, field):
    with pytest.raises(ClaimShapeError) as info:
        parse_license(claim)
    assert info.value.field == field and field in str(info.value)


@pytest.mark.parametrize("claim", [["active"], "active", True, 1])
def test_a_licence_that_is_not_an_object_is_refused(claim):
    with pytest.raises(ClaimShapeError) as info:
        parse_license(claim)
    assert info.value.field is None and "not an object" in str(info.value)


def test_user_access_is_typed_and_strict():
    assert parse_user_access(None) is None
    found = parse_user_access(user_access(has_access=False))
    assert found is not None and (found.enabled, found.has_access) == (True, False)
    with pytest.raises(ClaimShapeError) as info:
        parse_user_access({"enabled": True, "hasAccess": "true"})
    assert info.value.claim == "context.userAccess" and info.value.field == "hasAccess"
    with pytest.raises(ClaimShapeError):
        parse_user_access([True])


# -- ForgeContext --------------------------------------------------------------------------------


def test_the_context_exposes_licence_user_access_and_installation_contexts():
    ctx = context(license=trial_license(), access=user_access(has_access=False))
    assert ctx.license_info is not None and ctx.license_info.trial_end_date.year == 2027
    assert ctx.license_active is True
    assert ctx.user_access is not None and ctx.user_access.has_access is False
    (only,) = ctx.installation_contexts
    assert only.name == "jira" and only.cloud_id == ctx.cloud_id
    assert only.api_base_url == ctx.api_base_url and ctx.workspace_id is None


def test_no_licence_is_none_and_a_bad_one_is_not_read_as_active():
    assert context().license_info is None and context().license_active is None
    bad = context(license=["active"])  # a list: not "no licence", and not active either
    with pytest.raises(ClaimShapeError):
        bad.license_info
    assert bad.license_active is None
    assert context(license={"active": "yes"}).license_active is None


def test_bitbucket_workspace_from_the_context_or_the_installation_contexts():
    workspace = "b7ea02c9-0871-4858-a2a6-a190d7de977c"
    bitbucket = {"name": "bitbucket", "apiBaseUrl": "https://api.bitbucket.org"}
    ctx = context(
        overrides={
            "app.installation.contexts": [{**bitbucket, "workspaceId": workspace}, "junk"],
            "context.workspaceId": "{" + workspace + "}",
        }
    )
    assert ctx.workspace_id == workspace
    assert [c.name for c in ctx.installation_contexts] == ["bitbucket"]
    from_contexts = context(
        overrides={"app.installation.contexts": [{**bitbucket, "workspaceId": workspace}]}
    )
    assert from_contexts.workspace_id == workspace


# -- the decision -------------------------------------------------------------------------------


def denied(ctx: ForgeContext, **kwargs: Any) -> ForgeAccessDenied:
    with pytest.raises(ForgeAccessDenied) as info:
        check_access(ctx, **kwargs)
    error = info.value
    assert error.status_code == 403 and error.detail and error.hint
    assert error.installation_id == ctx.installation_id
    return error


def test_an_active_licence_passes_and_an_inactive_one_is_403():
    found = check_access(context(license=paid_license()))
    assert found is not None and found.active
    error = denied(context(license=paid_license(active=False, isActive=False)))
    assert error.code == "forge_license_inactive" and error.account_id == ADA
    ended = denied(context(license=trial_license(active=False)))
    assert "trial ended 2027-06-08" in ended.detail


def test_the_deprecated_flag_does_not_override_active():
    assert check_access(context(license=paid_license(active=True, isActive=False)))
    error = denied(context(license=paid_license(active=False, isActive=True)))
    assert error.code == "forge_license_inactive"


@pytest.mark.parametrize("claim", [{"active": "yes"}, ["active"], "true", {"isActive": 1}])
def test_a_licence_claim_of_the_wrong_type_is_403_with_its_code(claim):
    error = denied(context(license=claim))
    assert error.code == "forge_license_claim_invalid" and error.claim == "app.license"


@pytest.mark.parametrize(
    "environment, licensed",
    [("PRODUCTION", False), ("STAGING", True), ("DEVELOPMENT", True), ("SANDBOX", False)],
)
def test_an_absent_licence_means_what_the_environment_says(environment, licensed):
    ctx = context(environment=environment)
    assert absent_license_counts_as_licensed(environment) is licensed
    if licensed:
        assert check_access(ctx) is None
    else:
        assert denied(ctx).code == "forge_license_missing"


def test_absent_licence_setting_is_read_when_used_and_merged_with_defaults(settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_ABSENT_LICENSE": {"production": "licensed"},  # a free app
    }
    assert check_access(context()) is None
    assert check_access(context(environment="STAGING")) is None  # the default stays
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_ABSENT_LICENSE": {"STAGING": "unlicensed"},
    }
    assert denied(context(environment="STAGING")).code == "forge_license_missing"


@pytest.fixture
def user_based_billing(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_USER_BASED_BILLING": True}


def test_user_access_is_only_checked_with_user_based_billing():
    ctx = context(license=paid_license(), access=user_access(has_access=False))
    assert check_access(ctx) is not None  # the setting is off by default
    assert denied(ctx, user_access=True).code == "forge_user_access_denied"


@pytest.mark.usefixtures("user_based_billing")
def test_user_based_billing_refuses_a_user_without_access():
    licensed = paid_license()
    assert check_access(context(license=licensed, access=user_access(has_access=True)))
    error = denied(context(license=licensed, access=user_access(has_access=False)))
    assert error.code == "forge_user_access_denied" and ADA in error.detail
    # The installation did not adopt user-based billing: everyone has access.
    assert check_access(
        context(license=licensed, access=user_access(has_access=False, enabled=False))
    )
    assert check_access(context(license=licensed, access=user_access(), principal=None))
    # A view may opt out.
    assert check_access(
        context(license=licensed, access=user_access(has_access=False)), user_access=False
    )


@pytest.mark.usefixtures("user_based_billing")
def test_user_based_billing_without_a_user_access_claim():
    licensed = paid_license()
    error = denied(context(license=licensed))
    assert error.code == "forge_user_access_unknown"
    assert check_access(context(license=licensed, principal=None, kind="scheduled")) is not None
    bad = denied(context(license=licensed, access={"enabled": True, "hasAccess": "yes"}))
    assert bad.code == "forge_user_access_claim_invalid" and bad.field == "hasAccess"
    # The licence is checked first.
    inactive = paid_license(active=False)
    assert denied(context(license=inactive)).code == "forge_license_inactive"


def test_a_refusal_logs_one_line_with_ids_and_no_token(caplog):
    ctx = context(license=paid_license(active=False))
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        denied(ctx)
    (record,) = [r for r in caplog.records if r.name == "django_atlassian_connect"]
    assert record.connect_code == "forge_license_inactive"
    assert ctx.installation_id in record.getMessage() and ADA in record.getMessage()
