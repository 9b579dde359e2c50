"""``connect_doctor tenant``: one installation's state and history, and live checks.

The state is judged by :func:`inbound.check_tenant_state`; install and secret
history come from the database; ``--check`` makes one signed call as the app
and one impersonation grant, each explained by :mod:`.outbound_errors`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..conf import connect_settings
from ..connect import impersonation
from ..connect.client import ConnectClient
from ..connect.inbound import check_tenant_state
from ..connect.signing import current_secret
from ..exceptions import ConnectAuthError, ConnectClientError
from ..maintenance import verify_endpoint
from ..models import AbstractTenant, AccessToken, LifecycleEvent, SharedSecret
from .facts import (
    app_key_mismatch,
    describe_event,
    find_tenant,
    impersonation_evidence,
    report_unknown_tenant,
    secret_history,
    tenant_facts,
)
from .outbound_errors import explain_outbound_error
from .report import ERROR, INFO, OK, WARNING, Finding, Report, default_hint


def analyse_tenant(
    identifier: str,
    *,
    check: bool = False,
    account_id: str | None = None,
    now: float | None = None,
) -> Report:
    """Install history, secret history and scopes of one installation; with ``check``,
    one signed call as the app and one impersonation grant against the live site."""
    now = time.time() if now is None else now
    report = Report("tenant")
    tenant, matches = find_tenant(identifier)
    if tenant is None:
        report_unknown_tenant(report, identifier)
        refused = LifecycleEvent.objects.filter(client_key=identifier, accepted=False)
        for event in refused.order_by("-received_at")[:5]:
            report.add(
                "install_refused",
                INFO,
                f"A refused '{event.event_type}' for this clientKey at "
                f"{event.received_at:%Y-%m-%dT%H:%M:%SZ}: {event.error_code}.",
                cause=event.error_code,
            )
        return report
    report.facts["tenant"] = tenant_facts(tenant)
    if len(matches) > 1:
        report.add(
            "tenant_ambiguous",
            WARNING,
            f"{len(matches)} installations match {identifier!r} (a site import creates a new "
            f"clientKey for the same site): {', '.join(t.client_key for t in matches)}; "
            f"showing {tenant.client_key}.",
        )
    events = LifecycleEvent.objects.filter(client_key=tenant.client_key).order_by("received_at")
    report.facts["install_history"] = [describe_event(e) for e in events]
    report.facts["secret_history"] = secret_history(tenant)
    _check_state(report, tenant)
    if not SharedSecret.objects.filter(tenant_id=tenant.pk, retired_at__isnull=True).exists():
        report.add(
            "secret_missing",
            ERROR,
            "The installation has no current shared secret: nothing can be signed or verified.",
        )
    _check_installs(report, events)
    changed = app_key_mismatch(tenant)
    if changed is not None:
        report.findings.append(changed)
    if tenant.verification_status == "unauthorized":
        _last_verification_refused(report, tenant, changed)
    check_impersonation_scopes(report, tenant)
    if check:
        live_check(report, tenant, account_id, now)
    return report


def _check_state(report: Report, tenant: AbstractTenant) -> None:
    """Uninstalled or disabled, as the app's own check refuses them."""
    try:
        check_tenant_state(tenant, tenant.client_key)
    except ConnectAuthError as error:
        report.add_error(error)
        return
    if tenant.is_installed and not tenant.is_enabled:
        # Accepted while REJECT_DISABLED_TENANTS is off: worth knowing, not a refusal.
        report.add("tenant_disabled", WARNING, f"The app is disabled on {tenant.base_url}.")


def _check_installs(report: Report, events: Iterable[LifecycleEvent]) -> None:
    """The latest 'installed' refused is a problem; earlier refusals are history."""
    installs = [e for e in events if e.event_type == "installed"]
    last_install = installs[-1] if installs else None
    if last_install is not None and not last_install.accepted:
        report.add(
            last_install.error_code or "install_refused",
            ERROR,
            f"The latest 'installed' delivery ({last_install.received_at:%Y-%m-%dT%H:%M:%SZ}) "
            f"was refused with {last_install.status_code} {last_install.error_code}: "
            f"{last_install.detail}",
            hint="The site shows the install or update as failed and keeps its previous "
            "state; fix the cause, then retry from 'Manage apps'. "
            + default_hint(last_install.error_code),
            cause="installed_refused",
            event=describe_event(last_install),
        )
        return
    older = [e for e in installs if not e.accepted]
    if older:
        report.add(
            "install_refused",
            INFO,
            f"{len(older)} earlier 'installed' deliveries were refused (codes "
            f"{', '.join(sorted({e.error_code for e in older}))}); a later one was accepted.",
        )


def _last_verification_refused(
    report: Report, tenant: AbstractTenant, changed: Finding | None
) -> None:
    when = f"({tenant.last_verified_at:%Y-%m-%dT%H:%M:%SZ}) " if tenant.last_verified_at else ""
    if changed is not None:
        # The changed app key explains the 401: a stale secret is not the cause to chase.
        changed.details["last_verification"] = f"{when}refused with 401".strip()
        return
    report.add(
        "signature_invalid",
        ERROR,
        f"The last verification call {when}was refused with 401: the site holds another "
        "shared secret than ours.",
        hint="Reinstall (or update) the app on the site; then run connect_doctor tenant --check.",
        cause="stale_secret",
        detail=tenant.verification_detail[:500],
    )


def check_impersonation_scopes(report: Report, tenant: AbstractTenant) -> None:
    """ACT_AS_USER against what the database shows: the tenant's cached user tokens."""
    scopes = [str(s).upper() for s in connect_settings.SCOPES]
    if "ACT_AS_USER" in scopes:
        if not tenant.oauth_client_id:
            report.add(
                "oauth_client_id_missing",
                ERROR,
                "SCOPES has ACT_AS_USER but the installation has no oauthClientId: the site "
                "runs an install from before the scope was added.",
                cause="install_not_upgraded",
            )
        else:
            report.add("impersonation_ready", OK, "ACT_AS_USER declared, oauthClientId present.")
        return
    evidence = impersonation_evidence(tenant)
    if evidence:
        report.add(
            "act_as_user_missing",
            ERROR,
            f"The app acts as users ({evidence}) but SCOPES lacks ACT_AS_USER: the grant fails "
            "with unauthorized_client.",
            cause="scope_not_declared",
            scopes=scopes,
        )


def _add_once(report: Report, finding: Finding) -> None:
    """A live-check finding; one the report already has (same code and cause) gains its
    details instead of being said twice (a changed app key, say)."""
    for seen in report.findings:
        if (seen.code, seen.cause) == (finding.code, finding.cause):
            for key, value in finding.details.items():
                seen.details.setdefault(key, value)
            return
    report.findings.append(finding)


def live_check(report: Report, tenant: AbstractTenant, account_id: str | None, now: float) -> None:
    """One signed call as the app, and one impersonation grant; nothing is recorded."""
    path = verify_endpoint(tenant)
    try:
        response = ConnectClient(tenant).as_app().get(path)
    except ConnectClientError as exc:  # network failures too (ConnectNetworkError)
        finding = explain_outbound_error(exc, tenant, mode="app", now=now)
        finding.details.setdefault("check", f"GET {path} as the app")
        _add_once(report, finding)
    else:
        report.add(
            "app_call_ok",
            OK,
            f"GET {path} as the app -> {response.status_code}: the site accepts our JWTs "
            "(shared secret in sync, clocks agree).",
        )
    if not account_id:
        row = AccessToken.objects.filter(tenant_id=tenant.pk).order_by("-last_used_at").first()
        account_id = row.account_id if row else None
    if not account_id:
        report.add(
            "impersonation_not_checked",
            INFO,
            "Add --as-user ACCOUNT_ID to check the impersonation grant.",
        )
        return
    try:
        secret = current_secret(tenant)
        _, expires_in = impersonation.request_grant(tenant, account_id, "", secret.value)
    except ConnectClientError as exc:  # ImpersonationError is one
        finding = explain_outbound_error(exc, tenant, mode="user", now=now)
        finding.details.setdefault("check", f"impersonation grant for {account_id}")
        _add_once(report, finding)
    else:
        report.add(
            "impersonation_ok",
            OK,
            f"The authorization server granted a token for {account_id} ({expires_in} s).",
        )
