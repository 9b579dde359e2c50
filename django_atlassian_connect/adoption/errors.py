"""The one error of adoption: a stable code, the cause and the fix."""

from __future__ import annotations

from typing import ClassVar

from ..codes.adoption import ADOPTION_CODES
from ..exceptions import ConnectError


class AdoptionError(ConnectError):
    """The manifest cannot be written or read: nothing was written.

    ``AdoptionError(code, detail=None, *, hint=None, **context)`` with one of the
    ``adoption_*`` / ``manifest_*`` codes of :mod:`django_atlassian_connect.codes.adoption`;
    ``detail`` names the cause (the setting, module or scope in question), :attr:`fix`
    what to do. ``manage.py forge_manifest`` prints ``<code>: <detail> <fix>``.
    """

    codes: ClassVar[frozenset[str] | None] = ADOPTION_CODES

    @property
    def fix(self) -> str:
        """What to do about it (the ``hint``)."""
        return self.hint

    def line(self) -> str:
        """``<code>: <cause> <fix>``, as the command prints it."""
        return f"{self.code}: {self}"
