"""Signature and time checks of an HS256 token, explained.

The verdicts come from the app's own checks (:func:`tokens.verify_hs256_with_secrets`,
:func:`tokens.check_times`); this module branches on the code they raise and
reads what the error carries (which secret, retired when, the skew), then adds
what only the database can tell: another tenant's secret, a refused install.
"""

from __future__ import annotations

import math
from typing import Any

from ..conf import connect_settings
from ..connect.inbound import secret_candidates
from ..exceptions import ConnectAuthError, SecretDecryptionError
from ..models import AbstractTenant, get_tenant_model
from ..tokens import ParsedToken, SecretCandidate, check_times, verify_hs256_with_secrets
from .facts import current_since, describe_event, purged_count, refused_installs_since
from .report import ERROR, OK, WARNING, Report, error_context, iso

_OTHER_TENANTS_LIMIT = 500


def time_facts(parsed: ParsedToken, now: float) -> dict[str, Any]:
    """``iat``/``nbf``/``exp`` as dates with their offset from our clock."""
    facts: dict[str, Any] = {"now": iso(now)}
    for name in ("iat", "nbf", "exp"):
        value = parsed.claims.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            offset = int(value - now)
            facts[name] = f"{iso(value)} ({'+' if offset >= 0 else ''}{offset} s)"
    iat, exp = parsed.claims.get("iat"), parsed.claims.get("exp")
    if isinstance(iat, (int, float)) and isinstance(exp, (int, float)):
        facts["lifetime_s"] = int(exp - iat)
    return facts


def check_token_times(report: Report, parsed: ParsedToken, now: float, *, who: str) -> None:
    """:func:`tokens.check_times`, with the skew it measured turned into a cause."""
    leeway = connect_settings.LEEWAY
    try:
        check_times(parsed, now=now, leeway=leeway)
    except ConnectAuthError as error:
        skew = int(error_context(error, "skew") or 0)
        if error.code == "token_not_yet_valid":
            report.add_error(
                error,
                cause="clock_skew",
                skew_seconds=skew,
                explanation=(
                    f"The token was issued {skew} s in the future by our clock: the "
                    f"clock of {who} is about {skew} s ahead of ours."
                ),
            )
        elif error.code == "token_expired":
            iat = parsed.claims.get("iat")
            lifetime = parsed.claims.get("exp", 0) - iat if isinstance(iat, (int, float)) else None
            report.add_error(
                error,
                cause="expired",
                expired_seconds_ago=skew,
                explanation=(
                    f"If the token was made just now, the clock of {who} is about {skew} s "
                    "behind ours (clock skew); otherwise it is simply old: get a fresh one."
                ),
                lifetime_s=lifetime,
            )
        else:
            report.add_error(error)
    else:
        report.add("times_valid", OK, f"iat/exp are valid by our clock (leeway {leeway} s).")


def signed_by(parsed: ParsedToken, candidates: list[SecretCandidate], now: float) -> bool:
    """Whether one of ``candidates`` (current or retired, any age) signed the token."""
    try:
        verify_hs256_with_secrets(parsed, candidates, now=now, grace_period=math.inf)
    except ConnectAuthError:
        return False
    return True


def other_tenant_signing(
    parsed: ParsedToken, tenant: AbstractTenant | None, now: float
) -> str | None:
    """The clientKey of another tenant whose secret signed the token (mixed-up tenants)."""
    manager = get_tenant_model()._default_manager
    others = manager.exclude(pk=tenant.pk) if tenant is not None else manager.all()
    for other in others.order_by("-installed_at")[:_OTHER_TENANTS_LIMIT]:
        try:
            if signed_by(parsed, secret_candidates(other), now):
                return other.client_key
        except SecretDecryptionError:
            continue
    return None


def check_signature(
    report: Report, parsed: ParsedToken, tenant: AbstractTenant, now: float, *, outbound: bool
) -> None:
    """Which of the tenant's secrets signed the token, and what that means.

    Inbound, the app's grace period applies; outbound, none: the product
    accepts only the secret of the latest install.
    """
    try:
        candidates = secret_candidates(tenant)
    except SecretDecryptionError as exc:
        report.add(
            "secret_undecryptable",
            ERROR,
            str(exc),
            hint="Put the old key back into ENCRYPTION_KEYS, then run connect_reencrypt.",
        )
        return
    current = next((c for c in candidates if c.retired_at is None), None)
    report.facts["secrets_tried"] = [
        f"{c.label} ({'current' if c.retired_at is None else 'retired ' + str(iso(c.retired_at))})"
        for c in candidates
    ]
    grace = connect_settings.SECRET_GRACE_PERIOD
    try:
        verified = verify_hs256_with_secrets(
            parsed, candidates, now=now, grace_period=0 if outbound else grace
        )
    except ConnectAuthError as error:
        if error.code == "secret_retired":
            _retired(report, error, now, current, outbound=outbound, grace=grace)
        elif error.code == "signature_invalid":
            _unknown_secret(report, parsed, tenant, now, candidates, current, outbound=outbound)
        else:
            report.add_error(error)
        return
    label = verified.candidate.label
    if not verified.within_grace:
        report.add(
            "signature_valid", OK, f"Signed with the current shared secret {label}.", secret=label
        )
        return
    retired_at = verified.candidate.retired_at or now
    age = now - retired_at
    report.add(
        "secret_retired",
        WARNING,
        f"The token was signed with the shared secret {label}, retired at {iso(retired_at)}; "
        f"accepted for the grace period of {grace} s ({int(grace - age)} s left).",
        hint="A browser tab open since before the reinstall: fine until the grace "
        "period ends; reloading gives a token signed with the current secret.",
        cause="within_grace",
        grace_period=grace,
        secret=label,
        retired_at=iso(retired_at),
        retired_seconds_ago=int(age),
        current_secret=current.label if current else None,
    )


def _retired(
    report: Report,
    error: ConnectAuthError,
    now: float,
    current: SecretCandidate | None,
    *,
    outbound: bool,
    grace: float,
) -> None:
    """``secret_retired`` raised: which secret, retired when (carried by the error)."""
    label = error_context(error, "secret") or "?"
    retired_at = error_context(error, "retired_at")
    age = now - retired_at if isinstance(retired_at, (int, float)) else 0
    details: dict[str, Any] = {
        "secret": label,
        "retired_at": iso(retired_at) if isinstance(retired_at, (int, float)) else None,
        "retired_seconds_ago": int(age),
        "current_secret": current.label if current else None,
    }
    if outbound:
        report.add(
            "secret_retired",
            ERROR,
            f"The token was signed with the shared secret {label}, retired at "
            f"{details['retired_at']} when a later 'installed' callback rotated it. The "
            "product accepts only the secret of the latest install"
            + (f" ({current.label})" if current else "")
            + ": it answers 401.",
            hint="The signer holds a stale secret (a newer 'installed' was missed): sign "
            "with the tenant's current secret, loaded per call, not cached.",
            cause="stale_secret",
            **details,
        )
        return
    report.add(
        "secret_retired",
        ERROR,
        f"The token was signed with the shared secret {label}, retired at "
        f"{details['retired_at']} when a later 'installed' callback rotated it, "
        f"{int(age)} s ago: beyond the grace period of {grace} s.",
        cause="beyond_grace",
        grace_period=grace,
        **details,
    )


def _unknown_secret(
    report: Report,
    parsed: ParsedToken,
    tenant: AbstractTenant,
    now: float,
    candidates: list[SecretCandidate],
    current: SecretCandidate | None,
    *,
    outbound: bool,
) -> None:
    """``signature_invalid``: whose secret then? Another tenant's, or one we never stored."""
    other = other_tenant_signing(parsed, tenant, now)
    purged = purged_count(tenant)
    refused = refused_installs_since(tenant, current_since(tenant))
    if other is not None:
        cause, message = (
            "signed_by_other_tenant",
            f"The token's signature verifies with the secret of another installation "
            f"({other}), not with {tenant.client_key}'s: the signer mixed up tenants.",
        )
    elif refused and not outbound:
        cause, message = (
            "missed_installed",
            "The signature verifies with none of this installation's secrets, and an "
            f"'installed' delivery was refused at {refused[0].received_at:%Y-%m-%dT%H:%M:%SZ} "
            f"({refused[0].error_code}): the site may hold a newer secret we never stored.",
        )
    else:
        cause, message = (
            "unknown_secret",
            "The token's HS256 signature verifies with none of this installation's secrets "
            f"({len(candidates)} held"
            + (f", {purged} retired one(s) purged" if purged else "")
            + ").",
        )
    report.add(
        "signature_invalid",
        ERROR,
        message,
        cause=cause,
        current_secret=current.label if current else None,
        refused_installs=[describe_event(e) for e in refused],
        purged_secrets=purged,
    )
