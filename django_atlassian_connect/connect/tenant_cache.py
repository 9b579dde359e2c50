"""The warm path: tenants and their secrets without a database query or a cache read.

A :class:`TenantSnapshot` (the tenant row and its secrets as *ciphertext*,
:mod:`.tenant_snapshot`) is kept in Django's cache (``TENANT_CACHE_ALIAS``;
Redis or Memcached in production, so every process sees the same) under a
version key, and each process memoises the snapshot it last saw. Secrets are
decrypted only in process memory, once per ciphertext.

One rule bounds staleness, whatever the cache: a process trusts its memoised
snapshot of a tenant for ``TENANT_CACHE_REVALIDATE`` seconds (1 by default),
so a warm request makes no call out of the process, not even to Redis. Then
one check, per tenant per interval:

- with a shared cache, read the tenant's version key (one cache read); a
  different version means another process committed a change: take its
  snapshot from the cache;
- with a process-local cache (``LocMemCache``, Django's default), which shares
  nothing, compare the tenant's ``updated_at`` with the database (one indexed
  query) and reload only if it changed. Every change to a tenant or its
  secrets moves ``updated_at``.

So an uninstall, a disable or a rotation committed by one process reaches
every other within the interval; in the process that made it, at once: every
change to a tenant or a secret row (lifecycle callbacks, admin, your own code)
drops the entry and writes a fresh one with a new version after commit.
``QuerySet.update()`` bypasses model signals: call :func:`refresh` after such
updates. ``TENANT_CACHE_REVALIDATE = 0`` checks on every request (with Redis:
one version read per request, exact across processes).

Refused tokens whose refusal stale state could explain ask again: with a
shared cache they read the version key (a new secret is accepted at once,
nothing is written), and at most once per tenant per interval per process they
compare ``updated_at`` with the database: a flood of forged tokens costs one
cheap query a second, and a check that finds nothing changed rewrites nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.utils import timezone

from ..conf import connect_settings
from ..models import SharedSecret, get_tenant_model
from .tenant_snapshot import SecretEntry, TenantSnapshot, _decrypted, decrypt, load, load_secrets

__all__ = [
    "SecretEntry",
    "TenantSnapshot",
    "cache_key",
    "clear_process_memory",
    "decrypt",
    "forget",
    "get",
    "load",
    "load_secrets",
    "refresh",
    "reload",
    "revalidate",
]

logger = logging.getLogger("django_atlassian_connect")

_KEY_PREFIX = "atlassian_connect:tenant:v2:"


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


def _safe(operation: str, func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except Exception as exc:  # a cache outage must not break authentication
        logger.warning(
            "tenant cache %s failed (%s); using the database", operation, type(exc).__name__
        )
        return None


# Process memory: client_key -> (version, snapshot), trusted for
# TENANT_CACHE_REVALIDATE seconds after its last check; then checked against
# the shared cache's version key, or, for a process-private cache (LocMemCache,
# nothing to share), against the database's updated_at.
_memo: dict[str, tuple[str, TenantSnapshot]] = {}
# client_key -> monotonic time of the last check of the memo.
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
    """``(snapshot, from_cache)``: process memory while it is trusted, else the
    caches' current version, else the database (then cached)."""
    cache = _cache()
    if cache is None:
        return load(client_key), False
    memo = _memo.get(client_key)
    if memo is not None:
        now = time.monotonic()
        if not _due(client_key, now):
            return memo[1], True  # the warm path: nothing leaves the process
        _checked[client_key] = now
        if _is_private(cache):
            if _database_updated_at(client_key) == _updated_at(memo[1]):
                return memo[1], True
            return reload(client_key), False
    version = _safe("read", cache.get, _version_key(client_key))
    if version is not None:
        if memo is not None and memo[0] == version:
            return memo[1], True
        entry = _shared_entry(cache, client_key, version)
        if entry is not None:
            return entry[1], True
    snapshot = load(client_key)
    if snapshot is not None:
        # add(), not set(): never overwrite what a committed change just wrote.
        version = uuid.uuid4().hex
        timeout = connect_settings.TENANT_CACHE_TIMEOUT
        if _safe("write", cache.add, cache_key(client_key), (version, snapshot), timeout):
            _safe("write", cache.add, _version_key(client_key), version, timeout)
        _remember(client_key, (version, snapshot), checked=True)
    return snapshot, False


def _shared_entry(
    cache: BaseCache, client_key: str, version: str
) -> tuple[str, TenantSnapshot] | None:
    """The cached entry of ``version``, now remembered; ``None`` if the cache lacks it.

    From a shared cache the entry is current: that counts as this interval's
    check. A private cache's entry may predate another process's change: the
    next request checks it against the database.
    """
    entry = _safe("read", cache.get, cache_key(client_key))
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        _remember(client_key, entry, checked=not _is_private(cache))
        return entry
    return None


def _remember(client_key: str, entry: tuple[str, TenantSnapshot], *, checked: bool) -> None:
    """Keep ``entry`` in process memory; ``checked``: it is known current as of now."""
    _memo[client_key] = entry
    if checked:
        _checked[client_key] = time.monotonic()


def revalidate(client_key: str, snapshot: TenantSnapshot) -> TenantSnapshot | None:
    """A fresher snapshot when the tenant changed since ``snapshot``, else ``None``.

    For a refused token whose refusal a stale snapshot could explain. With a
    shared cache, first its version key (one read, nothing written): another
    process's rotation or reinstall is seen at once. Then, at most once per
    tenant per ``TENANT_CACHE_REVALIDATE`` seconds in this process, the
    database's ``updated_at``; a check that finds it unchanged writes nothing,
    so forged tokens cannot make every process reload: the first costs one
    indexed query, the rest of that second none.
    """
    cache = _cache()
    if cache is not None and not _is_private(cache):
        version = _safe("read", cache.get, _version_key(client_key))
        memo = _memo.get(client_key)
        if version is not None and (memo is None or memo[0] != version):
            entry = _shared_entry(cache, client_key, version)
            if entry is not None and entry[1] is not snapshot:
                return entry[1]
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
