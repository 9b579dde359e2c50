"""``ForgeContext``: what a verified Forge invocation tells the backend.

``request.forge`` (decorator) and ``request.auth`` (DRF). The FIT is the
source of truth for which installation a call is about; the body is data
that belongs to it. The two OAuth tokens Forge sent along are kept, but out
of ``repr()``: they are bearer credentials for the product APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import ids
from .licensing import ClaimShapeError, ForgeLicense, UserAccess, parse_license, parse_user_access


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ForgeContext:
    """A verified Forge Invocation Token and the tokens that came with it."""

    app_id: str
    installation_id: str
    api_base_url: str
    jti: str
    issued_at: float
    expires_at: float
    cloud_id: str | None = None
    principal: str | None = None
    environment_type: str | None = None
    environment_id: str | None = None
    module_type: str | None = None
    module_key: str | None = None
    app_version: str | None = None
    site_url: str | None = None
    license: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    system_token: str | None = field(default=None, repr=False)
    user_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_claims(
        cls,
        claims: Mapping[str, Any],
        *,
        system_token: str | None = None,
        user_token: str | None = None,
        trace_id: str | None = None,
    ) -> ForgeContext:
        """Build from claims that ``verify_fit`` accepted (shapes already checked)."""
        app = _dict(claims.get("app"))
        context = _dict(claims.get("context"))
        environment = _dict(app.get("environment"))
        module = _dict(app.get("module"))
        api_base_url = app["apiBaseUrl"]
        license_ = app.get("license")
        return cls(
            app_id=app["id"],
            installation_id=app["installationId"],
            api_base_url=api_base_url.rstrip("/"),
            jti=claims["jti"],
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
            cloud_id=_str(context.get("cloudId")) or ids.cloud_id_of(api_base_url),
            principal=_str(claims.get("principal")),
            environment_type=_str(environment.get("type")),
            environment_id=_str(environment.get("id")),
            module_type=_str(module.get("type")),
            module_key=_str(module.get("key")),
            app_version=_str(app.get("appVersion")),
            site_url=_str(context.get("siteUrl")),
            license=license_ if isinstance(license_, dict) else None,
            context=context,
            trace_id=trace_id,
            claims=claims,
            system_token=system_token,
            user_token=user_token,
        )

    @property
    def account_id(self) -> str | None:
        """The user in session (``principal``); ``None`` for events and triggers."""
        return self.principal

    @property
    def product(self) -> str | None:
        """``jira``, ``confluence`` or ``bitbucket``, read from ``apiBaseUrl``."""
        return ids.product_of(self.api_base_url)

    @property
    def site_ari(self) -> str | None:
        product = self.product
        if product in ("jira", "confluence") and self.cloud_id:
            return ids.site_ari(product, self.cloud_id)
        return None

    @property
    def license_active(self) -> bool | None:
        """``app.license.active`` (else the deprecated ``isActive``); ``None``: no licence,
        or one that is not of the documented shape (:attr:`license_info` says why)."""
        try:
            found = self.license_info
        except ClaimShapeError:
            return None
        return found.active if found is not None else None

    @property
    def license_info(self) -> ForgeLicense | None:
        """``app.license`` typed (active, capability_set, is_evaluation, trial_end_date...);
        ``None`` when the token carries none (free apps, DEVELOPMENT and STAGING).

        Raises :class:`~.licensing.ClaimShapeError` when a field has the wrong type.
        """
        return parse_license(_dict(self.claims.get("app")).get("license"))

    @property
    def user_access(self) -> UserAccess | None:
        """``context.userAccess`` (enabled, has_access): UI invocations of an app with
        user-based billing; ``None`` otherwise. Raises :class:`~.licensing.ClaimShapeError`."""
        return parse_user_access(self.context.get("userAccess"))

    @property
    def installation_contexts(self) -> tuple[InstallationContext, ...]:
        """``app.installation.contexts``: one per product the installation covers."""
        app = _dict(self.claims.get("app"))
        items = _dict(app.get("installation")).get("contexts")
        if not isinstance(items, list):
            return ()
        return tuple(
            InstallationContext.from_claim(item) for item in items if isinstance(item, dict)
        )

    @property
    def workspace_id(self) -> str | None:
        """The Bitbucket workspace: ``context.workspaceId`` (its braces dropped), else the
        ``workspaceId`` of a Bitbucket installation context; ``None`` for Jira and Confluence."""
        given = _str(self.context.get("workspaceId"))
        if given:
            return given.strip("{}") or None
        return next((c.workspace_id for c in self.installation_contexts if c.workspace_id), None)


@dataclass(frozen=True)
class InstallationContext:
    """One ``app.installation.contexts`` item: a product the installation covers."""

    name: str | None
    api_base_url: str | None
    cloud_id: str | None = None  # Jira and Confluence
    workspace_id: str | None = None  # Bitbucket

    @classmethod
    def from_claim(cls, item: Mapping[str, Any]) -> InstallationContext:
        workspace = _str(item.get("workspaceId"))
        return cls(
            name=_str(item.get("name")),
            api_base_url=_str(item.get("apiBaseUrl")),
            cloud_id=_str(item.get("cloudId")),
            workspace_id=workspace.strip("{}") if workspace else None,
        )
