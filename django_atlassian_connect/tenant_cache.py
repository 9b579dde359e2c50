"""The warm path: tenants and their secrets without a database query.

A :class:`TenantSnapshot` (the tenant row and its secrets as *ciphertext*) is
kept in Django's cache (``TENANT_CACHE_ALIAS``; Redis or Memcached in
production so every process sees the same). Secrets are decrypted only in
process memory, once per ciphertext, never stored decrypted in the shared
cache.

Every change to a tenant or a secret row (lifecycle callbacks, admin, your
own code) drops the entry at once and writes a fresh one after commit, so a
rotated secret or an uninstall takes effect immediately. ``QuerySet.update()``
bypasses model signals: call :func:`refresh` after such updates.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import BaseCache, caches
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from . import crypto
from .conf import connect_settings
from .models import AbstractTenant, SharedSecret, get_tenant_model
from .tokens import SecretCandidate

logger = logging.getLogger("django_atlassian_connect")

_KEY_PREFIX = "atlassian_connect:tenant:v1:"
_MAX_DECRYPTED = 4096


@dataclass(frozen=True)
class SecretEntry:
    fingerprint: str
    ciphertext: str = field(repr=False)
    became_current_at: float
    retired_at: float | None


@dataclass(frozen=True)
class TenantSnapshot:
    tenant: AbstractTenant
    secrets: tuple[SecretEntry, ...]

    @property
    def current(self) -> SecretEntry | None:
        return next((s for s in self.secrets if s.retired_at is None), None)

    def candidates(self) -> list[SecretCandidate]:
        """Current secret first, then retired ones, newest first."""
        ordered = sorted(
            self.secrets, key=lambda s: (s.retired_at is not None, -(s.retired_at or 0))
        )
        return [SecretCandidate(decrypt(s), s.fingerprint, s.retired_at) for s in ordered]


class _Decrypted:
    """Process-local LRU: ciphertext -> plaintext."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, ciphertext: str) -> str:
        with self.lock:
            value = self.items.get(ciphertext)
            if value is not None:
                self.items.move_to_end(ciphertext)
                return value
        value = crypto.decrypt(ciphertext)
        with self.lock:
            self.items[ciphertext] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_decrypted = _Decrypted(_MAX_DECRYPTED)


def decrypt(entry: SecretEntry) -> str:
    return _decrypted.get(entry.ciphertext)


def _cache() -> BaseCache | None:
    alias = connect_settings.TENANT_CACHE_ALIAS
    return caches[alias] if alias else None


def cache_key(client_key: str) -> str:
    # Hashed: clientKeys may hold characters some cache backends refuse in keys.
    return _KEY_PREFIX + hashlib.sha256(client_key.encode("utf-8")).hexdigest()


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


def _safe(operation: str, func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except Exception as exc:  # a cache outage must not break authentication
        logger.warning(
            "tenant cache %s failed (%s); using the database", operation, type(exc).__name__
        )
        return None


def get(client_key: str) -> tuple[TenantSnapshot | None, bool]:
    """``(snapshot, from_cache)``: the cache first, else the database (then cached)."""
    cache = _cache()
    key = cache_key(client_key)
    if cache is not None:
        snapshot = _safe("read", cache.get, key)
        if isinstance(snapshot, TenantSnapshot):
            return snapshot, True
    snapshot = load(client_key)
    if snapshot is not None and cache is not None:
        # add(), not set(): never overwrite what a committed change just wrote.
        _safe("write", cache.add, key, snapshot, connect_settings.TENANT_CACHE_TIMEOUT)
    return snapshot, False


def reload(client_key: str) -> TenantSnapshot | None:
    """Read from the database and replace the cached entry."""
    snapshot = load(client_key)
    cache = _cache()
    if cache is not None:
        if snapshot is None:
            _safe("delete", cache.delete, cache_key(client_key))
        else:
            _safe(
                "write",
                cache.set,
                cache_key(client_key),
                snapshot,
                connect_settings.TENANT_CACHE_TIMEOUT,
            )
    return snapshot


def forget(client_key: str) -> None:
    cache = _cache()
    if cache is not None:
        _safe("delete", cache.delete, cache_key(client_key))


def refresh(client_key: str) -> None:
    """Drop the entry now and write a fresh one once the transaction commits."""
    forget(client_key)
    transaction.on_commit(lambda: reload(client_key))


def clear_process_memory() -> None:
    """Forget decrypted secrets held by this process (tests, key rotation)."""
    _decrypted.clear()


def on_tenant_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    refresh(instance.client_key)


def on_secret_changed(sender: Any, instance: SharedSecret, **kwargs: Any) -> None:
    # The relation is usually loaded already (SharedSecret.for_secret(tenant, ...)).
    refresh(instance.tenant.client_key)
