"""A tenant as the warm path holds it: its row and its secrets as ciphertext.

:class:`TenantSnapshot` is what :mod:`.tenant_cache` keeps in Django's cache
and in process memory; :func:`load` reads one from the database. Secrets are
decrypted only in process memory, once per ciphertext (:func:`decrypt`), never
stored decrypted in a shared cache.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from django.db.models import TextField
from django.db.models.functions import Cast

from .. import crypto
from ..models import AbstractTenant, SharedSecret, get_tenant_model
from ..tokens import SecretCandidate

__all__ = ["SecretEntry", "TenantSnapshot", "decrypt", "load", "load_secrets"]

_MAX_DECRYPTED = 4096


class SecretEntry(NamedTuple):
    fingerprint: str
    ciphertext: str
    became_current_at: float
    retired_at: float | None

    def __repr__(self) -> str:
        return f"SecretEntry({self.fingerprint!r}, retired_at={self.retired_at})"


class TenantSnapshot:
    """A tenant row and its secrets; pickles as plain values (cheap to load)."""

    __slots__ = ("_candidates", "_tenant", "secrets", "values")

    def __init__(self, tenant: AbstractTenant, secrets: tuple[SecretEntry, ...]) -> None:
        self._tenant: AbstractTenant | None = tenant
        self._candidates: list[SecretCandidate] | None = None
        self.values = tuple(getattr(tenant, f.attname) for f in tenant._meta.concrete_fields)
        self.secrets = secrets

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.values, self.secrets)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.values, self.secrets = state
        self._tenant = None
        self._candidates = None

    def __repr__(self) -> str:
        return f"<TenantSnapshot {self.values[:3]!r} secrets={self.secrets!r}>"

    @property
    def tenant(self) -> AbstractTenant:
        if self._tenant is None:
            model = get_tenant_model()
            names = [f.attname for f in model._meta.concrete_fields]
            self._tenant = model.from_db(None, names, list(self.values))
        return self._tenant

    @property
    def current(self) -> SecretEntry | None:
        return next((s for s in self.secrets if s.retired_at is None), None)

    def candidates(self) -> list[SecretCandidate]:
        """Current secret first, then retired ones, newest first (decrypted once)."""
        if self._candidates is None:
            ordered = sorted(
                self.secrets, key=lambda s: (s.retired_at is not None, -(s.retired_at or 0))
            )
            self._candidates = [
                SecretCandidate(decrypt(s), s.fingerprint, s.retired_at) for s in ordered
            ]
        return self._candidates


class _Decrypted:
    """Process-local map ciphertext -> plaintext, bounded in size.

    Reads take no lock (a dict lookup is atomic); when full, the oldest half
    is dropped.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[str, str] = {}
        self.lock = threading.Lock()

    def get(self, ciphertext: str) -> str:
        value = self.items.get(ciphertext)
        if value is not None:
            return value
        value = crypto.decrypt(ciphertext)
        with self.lock:
            if len(self.items) >= self.size:
                for key in list(self.items)[: self.size // 2]:
                    del self.items[key]
            self.items[ciphertext] = value
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_decrypted = _Decrypted(_MAX_DECRYPTED)


def decrypt(entry: SecretEntry) -> str:
    return _decrypted.get(entry.ciphertext)


def load(client_key: str) -> TenantSnapshot | None:
    """Read the tenant and its secrets (as ciphertext) from the database."""
    tenant = get_tenant_model()._default_manager.filter(client_key=client_key).first()
    if tenant is None:
        return None
    return TenantSnapshot(tenant, load_secrets(tenant))


def load_secrets(tenant: AbstractTenant) -> tuple[SecretEntry, ...]:
    """The tenant's secrets still held, as ciphertext (one query, nothing decrypted)."""
    rows = (
        SharedSecret.objects.filter(
            tenant_id=tenant.pk, purged_at__isnull=True, secret__isnull=False
        )
        .annotate(ciphertext=Cast("secret", TextField()))
        .values_list("fingerprint", "ciphertext", "became_current_at", "retired_at")
    )
    return tuple(
        SecretEntry(fp, ct, current.timestamp(), retired.timestamp() if retired else None)
        for fp, ct, current, retired in rows
    )
