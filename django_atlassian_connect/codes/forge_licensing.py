"""The refusals of a licensed Forge view (``IsForgeLicensed``, ``forge_license_required``).

All are **403**, never 401: Forge reads a 401 as "the Forge Invocation Token
failed validation" (and retries events as ``INVALID_FORGE_INVOCATION_TOKEN``),
while here the token was fine and the site or the user is not entitled.
Raised as :class:`~django_atlassian_connect.forge.access.ForgeAccessDenied`.
"""

from __future__ import annotations

from typing import Final

from .base import Code

_SEE = "See the guide 'Forge licences, user access and requestRemote'."

FORGE_LICENSING: dict[str, Code] = {
    "forge_license_inactive": Code(
        403,
        "The app's licence on this site is not active (app.license.active is false).",
        "The site's Marketplace subscription or evaluation has ended or was cancelled: the "
        "site admin renews it in the Marketplace (Manage apps). Nothing to fix in the app. " + _SEE,
    ),
    "forge_license_missing": Code(
        403,
        "The invocation carries no licence (no app.license claim), and FORGE_ABSENT_LICENSE "
        "says an absent licence means unlicensed in this environment.",
        "Forge sends app.license only to paid apps in PRODUCTION: a free or unlisted app, or "
        "a DEVELOPMENT or STAGING environment, gets none. If this app is free, do not guard "
        'the view with a licence check, or set FORGE_ABSENT_LICENSE["PRODUCTION"] to '
        '"licensed"; check app.licensing.enabled in the manifest of a paid app. ' + _SEE,
    ),
    "forge_license_claim_invalid": Code(
        403,
        "The invocation's app.license claim does not have the documented shape (an object "
        "whose active is a boolean): it cannot vouch for a licence.",
        "Forge documents app.license as an object with boolean active (isActive, deprecated), "
        "ISO-8601 dates and string fields; the detail names the field. A token minted by "
        "hand or by a test must follow that shape. " + _SEE,
    ),
    "forge_user_access_denied": Code(
        403,
        "The user in session has no access to the app (context.userAccess.hasAccess is false).",
        "The site uses user-based billing (FORGE_USER_BASED_BILLING is on): a site admin "
        "grants the user access to the app in the site's app access settings. " + _SEE,
    ),
    "forge_user_access_unknown": Code(
        403,
        "A user is in session but the invocation carries no context.userAccess, and "
        "FORGE_USER_BASED_BILLING asks for it.",
        "Forge puts userAccess in the token of calls from the UI only: a call from a Forge "
        "function carries none. Check context.userAccess in the "
        "function, or let this view skip the user check (user_access=False). " + _SEE,
    ),
    "forge_user_access_claim_invalid": Code(
        403,
        "The invocation's context.userAccess claim does not have the documented shape (an "
        "object with boolean enabled and hasAccess).",
        "Forge documents context.userAccess as {enabled: boolean, hasAccess: boolean}; the "
        "detail names the field. A token minted by hand or by a test must follow that shape. "
        + _SEE,
    ),
}

#: The codes of ``ForgeAccessDenied``.
FORGE_LICENSING_CODES: Final = frozenset(FORGE_LICENSING)
