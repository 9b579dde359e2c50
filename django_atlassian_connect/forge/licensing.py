"""The licence and user-access claims of a Forge Invocation Token, typed.

Two claims (spec §3.2, Atlassian's remote invocation contract and
"Adopt user-based billing"):

- ``app.license``: present only for paid apps in PRODUCTION; ``active``
  (newer) and ``isActive`` (deprecated, still sent), ``billingPeriod``,
  ``capabilitySet``, ``isEvaluation``, ``subscriptionEndDate`` and
  ``trialEndDate`` (ISO 8601; older examples show epoch-millisecond strings),
  ``type`` (upper or lower case), ``modes``, the ``ccpEntitlement*`` ids;
- ``context.userAccess``: ``{enabled, hasAccess}`` on UI invocations of an
  app with user-based billing.

Parsing is strict: a field of the wrong type raises :class:`ClaimShapeError`
naming it, so a licence check never runs on a value it misread (``"active":
"yes"`` is not ``True``). ``null`` is accepted for every field and reads
``None``. Pure functions, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ClaimShapeError",
    "ForgeLicense",
    "UserAccess",
    "parse_date",
    "parse_license",
    "parse_user_access",
]

# Epoch milliseconds beyond this are no date Forge sends (year 5138).
_MAX_EPOCH_MS = 10**14


class ClaimShapeError(ValueError):
    """A licence or user-access claim does not have its documented shape.

    ``claim`` is ``"app.license"`` or ``"context.userAccess"``; ``field``
    the offending member (``None``: the claim itself).
    """

    def __init__(self, claim: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.claim = claim
        self.field = field


@dataclass(frozen=True)
class ForgeLicense:
    """``app.license``, typed. ``active`` is ``active``, else the deprecated ``isActive``."""

    active: bool
    billing_period: str | None = None
    capability_set: str | None = None
    is_evaluation: bool | None = None
    subscription_end_date: datetime | None = None
    trial_end_date: datetime | None = None
    #: ``COMMERCIAL``, ``COMMUNITY``, ``ACADEMIC``, ``DEVELOPER``...: upper-cased,
    #: since Forge's own examples send lower case.
    type: str | None = None
    modes: tuple[str, ...] = ()
    ccp_entitlement_id: str | None = None
    ccp_entitlement_slug: str | None = None

    @property
    def user_access_mode(self) -> bool:
        """``modes`` holds ``USER_ACCESS``: the licence is evaluated per user."""
        return "USER_ACCESS" in self.modes


@dataclass(frozen=True)
class UserAccess:
    """``context.userAccess``: whether the site uses user-based billing, and this user's access."""

    #: The installation adopted user-based billing; ``False``: every user has access.
    enabled: bool | None
    has_access: bool | None


def parse_date(value: Any, *, claim: str = "app.license", field: str = "") -> datetime | None:
    """An aware UTC datetime from ISO 8601 (``2027-06-08T00:00:00.000Z``) or epoch
    milliseconds (a string of digits, or an integer); ``None`` for ``None``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        digits: str | None = str(value)
    elif isinstance(value, str) and value.strip().isdigit():
        digits = value.strip()
    else:
        digits = None
    if digits is not None:
        millis = int(digits)
        if millis > _MAX_EPOCH_MS:
            raise ClaimShapeError(claim, field, f"{claim}.{field} {digits[:20]} is no date.")
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    if not isinstance(value, str):
        raise ClaimShapeError(
            claim, field, f"{claim}.{field} is a {type(value).__name__}, not a date string."
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ClaimShapeError(
            claim, field, f"{claim}.{field} {value[:40]!r} is neither ISO 8601 nor epoch ms."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _flag(claim: Mapping[str, Any], name: str, where: str) -> bool | None:
    value = claim.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise ClaimShapeError(
        where, name, f"{where}.{name} is {type(value).__name__} {str(value)[:30]!r}, not a boolean."
    )


def _text(claim: Mapping[str, Any], name: str, where: str) -> str | None:
    value = claim.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise ClaimShapeError(
        where, name, f"{where}.{name} is {type(value).__name__} {str(value)[:30]!r}, not a string."
    )


def parse_license(value: Any) -> ForgeLicense | None:
    """``app.license`` typed; ``None`` when absent. Raises :class:`ClaimShapeError`."""
    where = "app.license"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ClaimShapeError(where, None, f"{where} is a {type(value).__name__}, not an object.")
    # active wins over the deprecated isActive when both are sent (even if they differ).
    active = _flag(value, "active", where)
    if active is None:
        active = _flag(value, "isActive", where)
    if active is None:
        raise ClaimShapeError(where, "active", f"{where} has neither active nor isActive.")
    modes = value.get("modes")
    if modes is not None and (
        not isinstance(modes, list) or not all(isinstance(m, str) for m in modes)
    ):
        raise ClaimShapeError(where, "modes", f"{where}.modes is not a list of strings.")
    kind = _text(value, "type", where)
    return ForgeLicense(
        active=active,
        billing_period=_text(value, "billingPeriod", where),
        capability_set=_text(value, "capabilitySet", where),
        is_evaluation=_flag(value, "isEvaluation", where),
        subscription_end_date=parse_date(
            value.get("subscriptionEndDate"), claim=where, field="subscriptionEndDate"
        ),
        trial_end_date=parse_date(value.get("trialEndDate"), claim=where, field="trialEndDate"),
        type=kind.upper() if kind else None,
        modes=tuple(modes or ()),
        ccp_entitlement_id=_text(value, "ccpEntitlementId", where),
        ccp_entitlement_slug=_text(value, "ccpEntitlementSlug", where),
    )


def parse_user_access(value: Any) -> UserAccess | None:
    """``context.userAccess`` typed; ``None`` when absent. Raises :class:`ClaimShapeError`."""
    where = "context.userAccess"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ClaimShapeError(where, None, f"{where} is a {type(value).__name__}, not an object.")
    return UserAccess(
        enabled=_flag(value, "enabled", where), has_access=_flag(value, "hasAccess", where)
    )
