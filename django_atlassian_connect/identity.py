"""Who a verified token speaks for.

Connect: ``ConnectUser`` and ``ConnectAuth`` (``request.user`` and
``request.auth`` in DRF, ``request.connect`` for the decorator). Forge:
``ForgePrincipal`` (``request.user`` of
:class:`~django_atlassian_connect.authentication.ForgeInvocationAuthentication`).
Plain values: no database row, no permissions of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import AbstractTenant

if TYPE_CHECKING:
    from .models import ForgeInstallation


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


class ForgePrincipal:
    """Who a verified Forge invocation acts for: a user of one installation, or the app.

    ``account_id`` is the FIT's ``principal`` (the user in session), ``None``
    for events, triggers and function calls: then :attr:`is_app` is true and
    the call speaks for the app itself. ``installation`` is the
    :class:`~django_atlassian_connect.models.ForgeInstallation`. Authenticated
    either way; not a Django user (no database row, no permissions of its own).
    ``repr()`` and ``str()`` show ids only, never a token.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, account_id: str | None, installation: ForgeInstallation) -> None:
        self.account_id = account_id or None
        self.installation = installation

    @property
    def is_app(self) -> bool:
        """No user in session: the invocation speaks for the app (events, triggers)."""
        return self.account_id is None

    @property
    def installation_id(self) -> str:
        return str(self.installation.installation_id)

    @property
    def username(self) -> str:
        return self.account_id or ""

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.account_id or f"app@{self.installation_id}"

    def __repr__(self) -> str:
        who = repr(self.account_id) if self.account_id else "app"
        return f"<ForgePrincipal {who} of {self.installation_id!r}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ForgePrincipal)
            and other.account_id == self.account_id
            and other.installation_id == self.installation_id
        )

    def __hash__(self) -> int:
        return hash((self.account_id, self.installation_id))
