"""The warm path: tenants and their secrets without a database query.

A :class:`TenantSnapshot` (the tenant row and its secrets as *ciphertext*) is
kept in Django's cache (``TENANT_CACHE_ALIAS``; Redis or Memcached in
production so every process sees the same) with a version key; each process
also memoises the snapshot of the current version, so a warm request reads
one short key. Secrets are decrypted only in process memory, once per
ciphertext, never stored decrypted in the shared cache.

Every change to a tenant or a secret row (lifecycle callbacks, admin, your
own code) drops the entry at once and writes a fresh one after commit, so a
rotated secret or an uninstall takes effect immediately in every process that
shares the cache. ``QuerySet.update()`` bypasses model signals: call
:func:`refresh` after such updates.

A process-local cache (``LocMemCache``, Django's default) shares nothing, so
there each process trusts its snapshot for ``TENANT_CACHE_REVALIDATE``
seconds, then compares the tenant's ``updated_at`` with the database (one
indexed query per tenant per interval) and reloads only if it changed. Every
change to a tenant or its secrets moves ``updated_at``. Refused tokens may ask
for the same check (the cached state may be stale), but at most once per
tenant per interval per process: a flood of forged tokens costs one cheap
query a second, and a check that finds nothing changed rewrites nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from typing import Any, NamedTuple

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from .. import crypto
from ..conf import connect_settings
from ..models import AbstractTenant, SharedSecret, get_tenant_model
from ..tokens import SecretCandidate

logger = logging.getLogger("django_atlassian_connect")

_KEY_PREFIX = "atlassian_connect:tenant:v2:"
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


class _Handles(threading.local):
    """This thread's cache object: ``caches[alias]`` is slow on a hot path."""

    generation = -1
    cache: BaseCache | None = None


_handles = _Handles()
_generation = 0


def _cache() -> BaseCache | None:
    if _handles.generation != _generation:
        alias = connect_settings.TENANT_CACHE_ALIAS
        _handles.cache = caches[alias] if alias else None
        _handles.generation = _generation
    return _handles.cache


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _generation
    if setting in ("CACHES", "ATLASSIAN_CONNECT"):
        _generation += 1
        _memo.clear()
        _checked.clear()


setting_changed.connect(_settings_changed)


def cache_key(client_key: str) -> str:
    # Hashed: clientKeys may hold characters some cache backends refuse in keys.
    return _KEY_PREFIX + hashlib.sha256(client_key.encode("utf-8")).hexdigest()


def _version_key(client_key: str) -> str:
    return cache_key(client_key) + ":version"


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


# Process memory: client_key -> (version, snapshot). With a shared cache an
# entry is used only while its version equals the version in the cache, so a
# change committed by any process is seen by all at their next request, for
# the price of reading one short key. A process-private cache (LocMemCache)
# has nothing to share: the memo is trusted for TENANT_CACHE_REVALIDATE
# seconds, then checked against the database's updated_at.
_memo: dict[str, tuple[str, TenantSnapshot]] = {}
# client_key -> monotonic time of the last check against the database.
_checked: dict[str, float] = {}


def _is_private(cache: BaseCache) -> bool:
    return isinstance(cache, LocMemCache)


def _updated_at(snapshot: TenantSnapshot) -> Any:
    return snapshot.tenant.updated_at


def _database_updated_at(client_key: str) -> Any:
    """The tenant row's ``updated_at`` (one indexed query), ``None`` if gone."""
    return (
        get_tenant_model()
        ._default_manager.filter(client_key=client_key)
        .values_list("updated_at", flat=True)
        .first()
    )


def _due(client_key: str, now: float) -> bool:
    return now - _checked.get(client_key, float("-inf")) >= connect_settings.TENANT_CACHE_REVALIDATE


def get(client_key: str) -> tuple[TenantSnapshot | None, bool]:
    """``(snapshot, from_cache)``: the caches first, else the database (then cached)."""
    cache = _cache()
    if cache is None:
        return load(client_key), False
    if _is_private(cache):
        memo = _memo.get(client_key)
        if memo is not None:
            now = time.monotonic()
            if not _due(client_key, now):
                return memo[1], True
            _checked[client_key] = now
            if _database_updated_at(client_key) == _updated_at(memo[1]):
                return memo[1], True
            return reload(client_key), False
    version = _safe("read", cache.get, _version_key(client_key))
    if version is not None:
        memo = _memo.get(client_key)
        if memo is not None and memo[0] == version:
            return memo[1], True
        entry = _safe("read", cache.get, cache_key(client_key))
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
            _remember(client_key, entry, checked=False)
            return entry[1], True
    snapshot = load(client_key)
    if snapshot is not None:
        # add(), not set(): never overwrite what a committed change just wrote.
        version = uuid.uuid4().hex
        timeout = connect_settings.TENANT_CACHE_TIMEOUT
        if _safe("write", cache.add, cache_key(client_key), (version, snapshot), timeout):
            _safe("write", cache.add, _version_key(client_key), version, timeout)
        if _is_private(cache):
            _remember(client_key, (version, snapshot), checked=True)
    return snapshot, False


def _remember(client_key: str, entry: tuple[str, TenantSnapshot], *, checked: bool) -> None:
    """Keep ``entry`` in process memory; ``checked``: it was just read from the database."""
    _memo[client_key] = entry
    if checked:
        _checked[client_key] = time.monotonic()


def revalidate(client_key: str, snapshot: TenantSnapshot) -> TenantSnapshot | None:
    """A fresher snapshot when the database changed since ``snapshot``, else ``None``.

    For a refused token whose refusal a stale snapshot could explain. At most
    one check per tenant per ``TENANT_CACHE_REVALIDATE`` seconds in this
    process (``None`` in between), and a check that finds the same
    ``updated_at`` writes nothing, so forged tokens cannot make every process
    reload: the first costs one indexed query, the rest of that second none.
    """
    now = time.monotonic()
    if not _due(client_key, now):
        return None
    _checked[client_key] = now
    if _database_updated_at(client_key) == _updated_at(snapshot):
        return None
    return reload(client_key)


def reload(client_key: str) -> TenantSnapshot | None:
    """Read from the database and replace the cached entry."""
    snapshot = load(client_key)
    cache = _cache()
    _memo.pop(client_key, None)
    if cache is not None:
        if snapshot is None:
            _safe("delete", cache.delete_many, [cache_key(client_key), _version_key(client_key)])
        else:
            version = uuid.uuid4().hex
            timeout = connect_settings.TENANT_CACHE_TIMEOUT
            # The snapshot first: a reader that sees the new version finds it.
            _safe("write", cache.set, cache_key(client_key), (version, snapshot), timeout)
            _safe("write", cache.set, _version_key(client_key), version, timeout)
            if _is_private(cache):
                _remember(client_key, (version, snapshot), checked=True)
    return snapshot


def forget(client_key: str) -> None:
    _memo.pop(client_key, None)
    _checked.pop(client_key, None)
    cache = _cache()
    if cache is not None:
        _safe("delete", cache.delete_many, [_version_key(client_key), cache_key(client_key)])


def refresh(client_key: str) -> None:
    """Drop the entry now and write a fresh one once the transaction commits."""
    forget(client_key)
    transaction.on_commit(lambda: _reload_after_commit(client_key))


def _reload_after_commit(client_key: str) -> None:
    # The change is committed: a database gone just after the commit must not
    # make the caller report it as failed. The entry is already dropped, so the
    # next request reads the database.
    try:
        reload(client_key)
    except DatabaseError as exc:
        logger.warning(
            "tenant cache reload of %s after the commit failed (%s); the next request reads "
            "the database",
            client_key,
            type(exc).__name__,
        )


def clear_process_memory() -> None:
    """Forget what this process holds: snapshots and decrypted secrets."""
    _memo.clear()
    _checked.clear()
    _decrypted.clear()


def on_tenant_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    refresh(instance.client_key)


def on_secret_changed(sender: Any, instance: SharedSecret, **kwargs: Any) -> None:
    # The relation is usually loaded already (SharedSecret.for_secret(tenant, ...)).
    tenant = instance.tenant
    # Move the tenant's updated_at too: that is what processes with a private
    # cache compare. update() sends no signal, so this does not recurse.
    type(tenant)._default_manager.filter(pk=tenant.pk).update(updated_at=timezone.now())
    refresh(tenant.client_key)
