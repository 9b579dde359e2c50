"""Model field that stores text encrypted (Fernet) and hides it from repr()."""

from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto


class Secret(str):
    """A decrypted secret whose ``repr()`` does not show it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('********')"


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with the configured Fernet keys.

    The database holds only Fernet tokens; the Python value is a
    :class:`Secret` (a ``str``). Not searchable or orderable by content.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | None:
        if value is None:
            return None
        return Secret(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Secret):
            return value
        return Secret(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(str(value))
