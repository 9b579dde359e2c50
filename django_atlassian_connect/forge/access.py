"""May this verified Forge invocation use a licensed view? The licence, then the user.

:func:`check_access` is what ``IsForgeLicensed`` (DRF) and
``forge_license_required`` (plain views) run after the FIT verified. It
raises :class:`ForgeAccessDenied`, a **403** with a code
(``codes/forge_licensing.py``): never a 401, which Forge reads as a bad token.

1. The licence (``app.license``): ``active`` decides, the deprecated
   ``isActive`` only when ``active`` is absent. A claim of the wrong shape is
   refused (``forge_license_claim_invalid``): what cannot be read vouches for
   nothing.
2. No licence claim at all: Forge sends none to free or unlisted apps and to
   DEVELOPMENT and STAGING environments, so absence is not proof of anything.
   ``FORGE_ABSENT_LICENSE`` says per ``environmentType`` whether it counts as
   ``"licensed"`` or ``"unlicensed"``; an environment it does not name is
   unlicensed (a paid app in PRODUCTION always gets a licence).
3. With ``FORGE_USER_BASED_BILLING`` (or ``user_access=True`` on the view), a
   call with a user in session needs ``context.userAccess.hasAccess``, unless
   ``userAccess.enabled`` is false (the site did not adopt user-based billing).
   Calls without a user (events, triggers) have nobody to check.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from ..codes.forge_licensing import FORGE_LICENSING_CODES
from ..conf import DEFAULTS, connect_settings
from ..exceptions import ConnectError
from .context import ForgeContext
from .licensing import ClaimShapeError, ForgeLicense

__all__ = ["ForgeAccessDenied", "absent_license_counts_as_licensed", "check_access"]

logger = logging.getLogger("django_atlassian_connect")

LICENSED, UNLICENSED = "licensed", "unlicensed"


class ForgeAccessDenied(ConnectError):
    """A verified invocation refused by the licence or user-access check (403).

    Context: ``installation_id``, ``account_id`` (``None`` for the app),
    ``environment_type``; ``claim`` and ``field`` for a claim of the wrong shape.
    """

    codes = FORGE_LICENSING_CODES
    repr_fields: ClassVar[tuple[str, ...]] = ("installation_id", "account_id")


def absent_license_table() -> dict[str, str]:
    """``FORGE_ABSENT_LICENSE`` over its defaults: a project may name one environment only."""
    given = connect_settings.FORGE_ABSENT_LICENSE
    if not isinstance(given, dict):
        raise ImproperlyConfigured(
            'ATLASSIAN_CONNECT["FORGE_ABSENT_LICENSE"] must be a dict of environment type '
            f'to "licensed" or "unlicensed", not {type(given).__name__}.'
        )
    table = {**DEFAULTS["FORGE_ABSENT_LICENSE"], **{str(k).upper(): v for k, v in given.items()}}
    wrong = {k: v for k, v in table.items() if v not in (LICENSED, UNLICENSED)}
    if wrong:
        raise ImproperlyConfigured(
            f'ATLASSIAN_CONNECT["FORGE_ABSENT_LICENSE"] values are "licensed" or "unlicensed", '
            f"not {wrong!r}."
        )
    return table


def absent_license_counts_as_licensed(environment_type: str | None) -> bool:
    """What a missing ``app.license`` means in this environment (unknown: unlicensed)."""
    return absent_license_table().get((environment_type or "").upper()) == LICENSED


def _denied(code: str, detail: str, context: ForgeContext, **extra: Any) -> ForgeAccessDenied:
    error = ForgeAccessDenied(
        code,
        detail,
        installation_id=context.installation_id,
        account_id=context.principal,
        environment_type=context.environment_type,
        **extra,
    )
    # One line per refusal: ids and the reason, never a token.
    logger.warning(
        "forge access refused: code=%s installation=%s account=%s environment=%s detail=%s hint=%s",
        code,
        context.installation_id,
        context.principal or "-",
        context.environment_type or "-",
        error.detail,
        error.hint,
        extra={"connect_code": code},
    )
    return error


def _check_license(context: ForgeContext) -> ForgeLicense | None:
    try:
        found = context.license_info
    except ClaimShapeError as exc:
        raise _denied(
            "forge_license_claim_invalid", f"{exc}", context, claim=exc.claim, field=exc.field
        ) from exc
    if found is None:
        if absent_license_counts_as_licensed(context.environment_type):
            return None
        raise _denied(
            "forge_license_missing",
            f"The invocation carries no app.license, and FORGE_ABSENT_LICENSE counts that as "
            f"unlicensed in {context.environment_type or 'an unnamed'} environment.",
            context,
        )
    if not found.active:
        raise _denied(
            "forge_license_inactive",
            "The app's licence on this site is not active (app.license.active is false)"
            + (
                f"; the trial ended {found.trial_end_date:%Y-%m-%d}."
                if found.trial_end_date
                else "."
            ),
            context,
        )
    return found


def _check_user(context: ForgeContext) -> None:
    if context.principal is None:
        return  # an event, a trigger: nobody's access to check
    try:
        access = context.user_access
    except ClaimShapeError as exc:
        raise _denied(
            "forge_user_access_claim_invalid", f"{exc}", context, claim=exc.claim, field=exc.field
        ) from exc
    if access is None:
        raise _denied(
            "forge_user_access_unknown",
            f"User {context.principal} is in session but the invocation carries no "
            "context.userAccess to check their access with.",
            context,
        )
    if access.enabled is False:
        return  # this site did not adopt user-based billing: every user may use the app
    if access.has_access is not True:
        raise _denied(
            "forge_user_access_denied",
            f"User {context.principal} has no access to the app on this site "
            f"(context.userAccess.hasAccess is {access.has_access!r}).",
            context,
        )


def check_access(context: ForgeContext, *, user_access: bool | None = None) -> ForgeLicense | None:
    """Raise :class:`ForgeAccessDenied` unless the invocation may use a licensed view.

    ``user_access``: check ``context.userAccess`` too (``None``: as
    ``FORGE_USER_BASED_BILLING`` says). Returns the licence (``None`` when an
    absent one counts as licensed here).
    """
    found = _check_license(context)
    if connect_settings.FORGE_USER_BASED_BILLING if user_access is None else user_access:
        _check_user(context)
    return found
