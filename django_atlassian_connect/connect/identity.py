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


class ConnectUser:
    """The user a verified Connect token speaks for.

    ``account_id`` is the Atlassian accountId (``sub``), ``None`` for
    anonymous access; ``tenant`` is the installation. Not a Django user: it
    has no database row and no permissions of its own.
    """

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, account_id: str | None, tenant: AbstractTenant) -> None:
        self.account_id = account_id
        self.tenant = tenant

    @property
    def is_anonymous(self) -> bool:
        return self.account_id is None

    @property
    def username(self) -> str:
        return self.account_id or ""

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.account_id or f"anonymous@{self.tenant.client_key}"

    def __repr__(self) -> str:
        return f"<ConnectUser {self.account_id!r} of {self.tenant.client_key!r}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConnectUser)
            and other.account_id == self.account_id
            and other.tenant.pk == self.tenant.pk
        )

    def __hash__(self) -> int:
        return hash((self.account_id, self.tenant.pk))


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
