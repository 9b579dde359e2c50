"""Who a verified Forge invocation acts for: ``ForgePrincipal``.

``request.user`` of
:class:`~django_atlassian_connect.authentication.ForgeInvocationAuthentication`.
A plain value: no database row, no permissions of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..principals import TokenPrincipal

if TYPE_CHECKING:
    from ..models import ForgeInstallation


class ForgePrincipal(TokenPrincipal):
    """Who a verified Forge invocation acts for: a user of one installation, or the app.

    ``account_id`` is the FIT's ``principal`` (the user in session), ``None``
    for events, triggers and function calls: then :attr:`is_app` is true and
    the call speaks for the app itself. ``installation`` is the
    :class:`~django_atlassian_connect.models.ForgeInstallation`. Authenticated
    either way; not a Django user (no database row, no permissions of its own).
    ``repr()`` and ``str()`` show ids only, never a token.
    """

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

    def installation_key(self) -> str:
        return self.installation_id

    def __str__(self) -> str:
        return self.account_id or f"app@{self.installation_id}"

    def __repr__(self) -> str:
        who = repr(self.account_id) if self.account_id else "app"
        return f"<ForgePrincipal {who} of {self.installation_id!r}>"
