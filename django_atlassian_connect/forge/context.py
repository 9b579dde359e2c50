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
        """``app.license.active`` (or the deprecated ``isActive``); ``None``: no license."""
        if self.license is None:
            return None
        value = self.license.get("active", self.license.get("isActive"))
        return bool(value) if value is not None else None
