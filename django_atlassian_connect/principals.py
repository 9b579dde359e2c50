"""What every ``request.user`` of a verified token shares: ``TokenPrincipal``.

Connect's :class:`~django_atlassian_connect.connect.identity.ConnectUser` and
Forge's :class:`~django_atlassian_connect.forge.principal.ForgePrincipal`
build on it, as simplejwt's ``TokenUser`` and Django's ``AnonymousUser`` stand
in for a user row: the flags Django and DRF read, an ``account_id``, equality
by who and where. Not a Django user: no database row, no permissions of its
own. Imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["TokenPrincipal"]


class TokenPrincipal:
    """A user (or the app) a verified token speaks for, in one installation.

    ``account_id`` is the Atlassian accountId, ``None`` when the token names
    no user. Subclasses say which installation (:meth:`installation_key`).
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    account_id: str | None

    def installation_key(self) -> Hashable:
        """What names the installation: two principals are equal in the same one only."""
        raise NotImplementedError

    @property
    def username(self) -> str:
        return self.account_id or ""

    def get_username(self) -> str:
        return self.username

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.account_id == self.account_id  # type: ignore[attr-defined]
            and other.installation_key() == self.installation_key()  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.account_id, self.installation_key()))
