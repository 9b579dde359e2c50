"""Who a verified Connect token speaks for.

``ConnectUser`` and ``ConnectAuth`` (``request.user`` and ``request.auth`` in
DRF, ``request.connect`` for the decorator). Plain values: no database row,
no permissions of their own. Forge's counterpart is
:class:`~django_atlassian_connect.forge.principal.ForgePrincipal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import AbstractTenant
from ..principals import TokenPrincipal


class ConnectUser(TokenPrincipal):
    """The user a verified Connect token speaks for.

    ``account_id`` is the Atlassian accountId (``sub``), ``None`` for
    anonymous access; ``tenant`` is the installation. Not a Django user: it
    has no database row and no permissions of its own.
    """

    def __init__(self, account_id: str | None, tenant: AbstractTenant) -> None:
        self.account_id = account_id
        self.tenant = tenant

    @property
    def is_anonymous(self) -> bool:  # type: ignore[override]
        return self.account_id is None

    def installation_key(self) -> Any:
        return self.tenant.pk

    def __str__(self) -> str:
        return self.account_id or f"anonymous@{self.tenant.client_key}"

    def __repr__(self) -> str:
        return f"<ConnectUser {self.account_id!r} of {self.tenant.client_key!r}>"


@dataclass
class ConnectAuth:
    """A verified Connect token: ``request.auth`` (DRF) or ``request.connect``."""

    tenant: AbstractTenant
    claims: dict[str, Any]
    context_token: bool
    secret_fingerprint: str
    signed_with_retired_secret: bool = False
    user: ConnectUser = field(init=False)

    def __post_init__(self) -> None:
        sub = self.claims.get("sub")
        self.user = ConnectUser(sub if isinstance(sub, str) and sub else None, self.tenant)

    @property
    def account_id(self) -> str | None:
        return self.user.account_id

    @property
    def client_key(self) -> str:
        return self.tenant.client_key

    @property
    def context(self) -> dict[str, Any]:
        value = self.claims.get("context")
        return value if isinstance(value, dict) else {}
