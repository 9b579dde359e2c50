"""Who a verified Forge invocation acts for: ``ForgePrincipal``.

``request.user`` of
:class:`~django_atlassian_connect.authentication.ForgeInvocationAuthentication`.
A plain value: no database row, no permissions of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import ForgeInstallation


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
