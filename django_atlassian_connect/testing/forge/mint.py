"""Forge Invocation Tokens (FITs) minted as the platform does (spec §3.1-§3.3).

:func:`fit_claims` builds the claims of one invocation kind, :func:`sign_fit`
signs any claims with any key, and :func:`mint_fit` does both and lets an
attack test change or remove any claim on the way::

    mint_fit(key, app_id=..., installation=inst, environment=env,
             overrides={"aud": "x", "app.apiBaseUrl": "https://evil.example"},
             drop=["jti", "app.installationId"])

Dotted names reach into nested objects. Licences and user-based billing:
``license=paid_license(active=False)`` sets ``app.license`` (see also
:func:`trial_license`), ``user_access=user_access(has_access=False)`` sets
``context.userAccess`` of a UI invocation.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from .keys import ForgeSigningKey
from .records import Environment, Installation

ISSUER = "forge/invocation-token"
LIFETIME = 25  # seconds, as in the documented and the logged tokens
#: invocation kinds: a UI ``invokeRemote``, a product/lifecycle event, a scheduled
#: trigger, a Forge function's ``invokeRemote`` (no module context)
KINDS = ("ui", "event", "scheduled", "function")
_UI_MODULE_TYPES = {"jira": "jira:issuePanel", "confluence": "xen:macro"}


def paid_license(**changes: Any) -> dict[str, Any]:
    """An ``app.license`` claim of a paid PRODUCTION app (spec §3.2)."""
    license_claim: dict[str, Any] = {
        "active": True,
        "isActive": True,  # deprecated twin, still sent
        "billingPeriod": "MONTHLY",
        "capabilitySet": "capabilityStandard",
        "ccpEntitlementId": "E-" + secrets.token_hex(6),
        "ccpEntitlementSlug": "E-" + secrets.token_hex(4),
        "isEvaluation": False,
        "subscriptionEndDate": "2027-03-01T00:00:00.000Z",
        "trialEndDate": None,
        "type": "commercial",
        "modes": ["USER_ACCESS"],
        "supportEntitlementNumber": None,
    }
    license_claim.update(changes)
    return license_claim


def trial_license(trial_end: str = "2027-06-08T00:00:00.000Z", **changes: Any) -> dict[str, Any]:
    """A paid licence under evaluation: ``isEvaluation`` and a ``trialEndDate``.

    ``trial_end`` may be ISO 8601 or, as older examples show, epoch milliseconds.
    """
    return paid_license(**{"isEvaluation": True, "trialEndDate": trial_end, **changes})


def user_access(*, has_access: bool = True, enabled: bool = True) -> dict[str, Any]:
    """A ``context.userAccess`` claim (user-based billing): ``{"enabled", "hasAccess"}``."""
    return {"enabled": enabled, "hasAccess": has_access}


def fit_claims(
    *,
    app_id: str,
    installation: Installation,
    environment: Environment,
    kind: str = "ui",
    module_key: str = "forge-app-panel",
    module_type: str | None = None,
    principal: str | None = None,
    app_version: str = "1.0.0",
    extension: Mapping[str, Any] | None = None,
    license: Mapping[str, Any] | None = None,
    user_access: Mapping[str, Any] | None = None,
    now: float | None = None,
    lifetime: int = LIFETIME,
) -> dict[str, Any]:
    """The claims of one invocation of ``kind`` (see :data:`KINDS`).

    UI calls carry the full module ``context`` (with ``siteUrl``) and, when a
    user is in session, ``principal``. Events and scheduled triggers run as
    module type ``core:endpoint`` with a context of ``cloudId`` and
    ``moduleKey`` only; function calls carry no context. ``license`` is the
    ``app.license`` claim (``None``: a free app); ``user_access`` the
    ``context.userAccess`` of a UI call (Forge sends it on UI calls only).
    """
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}, not {kind!r}")
    issued = int(time.time() if now is None else now)
    if module_type is None:
        module_type = _UI_MODULE_TYPES[installation.product] if kind == "ui" else "core:endpoint"
    app: dict[str, Any] = {
        "id": app_id,
        "version": app_version.split(".")[0],  # deprecated "major version"
        "appVersion": app_version,
        "installationId": installation.id,
        "apiBaseUrl": installation.api_base_url,
        "installation": {"id": installation.id, "contexts": [installation.context()]},
        "environment": {"type": environment.type, "id": environment.id},
        "module": {"type": module_type, "key": module_key},
    }
    if license is not None:
        app["license"] = dict(license)
    claims: dict[str, Any] = {
        "app": app,
        "aud": app_id,
        "iss": ISSUER,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(20),
    }
    if kind == "ui":
        claims["context"] = {
            "cloudId": installation.cloud_id,
            "siteUrl": installation.site_url,
            "localId": f"ari:cloud:ecosystem::extension/{app_id.rsplit('/', 1)[-1]}/"
            f"{environment.uuid}/static/{module_key}",
            "moduleKey": module_key,
            "extension": dict(extension) if extension is not None else {"type": module_type},
        }
        if user_access is not None:
            claims["context"]["userAccess"] = dict(user_access)
    elif kind in ("event", "scheduled"):
        claims["context"] = {"cloudId": installation.cloud_id, "moduleKey": module_key}
    if principal is not None:
        claims["principal"] = principal
    return claims


def edit_claims(
    claims: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
) -> dict[str, Any]:
    """A deep copy of ``claims`` with dotted-path ``overrides`` set and ``drop`` removed."""
    edited = _deep_copy(claims)
    for path, value in (overrides or {}).items():
        *parents, last = path.split(".")
        node = edited
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    for path in drop:
        *parents, last = path.split(".")
        node = edited
        for name in parents:
            node = node.get(name, {})
        node.pop(last, None)
    return edited


def sign_fit(
    claims: Mapping[str, Any],
    key: ForgeSigningKey,
    *,
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """RS256 over ``claims`` with header ``{"alg": "RS256", "kid": ...}`` and nothing else.

    ``kid`` names another key than the one that signs (a forgery); ``headers``
    adds or replaces header fields.
    """
    header: dict[str, Any] = {"kid": kid or key.kid, "typ": None}  # PyJWT adds typ otherwise
    header.update(headers or {})
    return jwt.encode(dict(claims), key.private_pem, algorithm="RS256", headers=header)


def mint_fit(
    key: ForgeSigningKey,
    *,
    overrides: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
    **claim_args: Any,
) -> str:
    """A signed FIT: :func:`fit_claims` (``claim_args``), then :func:`edit_claims`."""
    claims = edit_claims(fit_claims(**claim_args), overrides, drop)
    return sign_fit(claims, key, kid=kid, headers=headers)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
