"""Fetched tokens, handed out until shortly before they expire, fetched once.

Two layers: a small LRU in process memory, then Django's cache, where a token
is stored ENCRYPTED (``crypto.encrypt``): a shared cache never holds one in
plaintext. A miss fetches once: a per-key thread lock in the process, a
``cache.add`` lock across processes; a loser waits for the winner's token,
and asks itself once the winner has given up. Used by the Forge offline user
tokens and the service-account tokens.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from django.core.cache import caches

from .. import crypto
from ..exceptions import SecretDecryptionError

__all__ = ["SharedTokenCache"]


class _Token(Protocol):
    @property
    def token(self) -> str: ...

    @property
    def expires_at(self) -> float: ...


T = TypeVar("T", bound=_Token)


class SharedTokenCache(Generic[T]):
    """Tokens of dataclass ``kind`` (with ``token`` and ``expires_at``), by key."""

    def __init__(
        self,
        kind: type[T],
        *,
        cache_alias: Callable[[], str],
        early: Callable[[], float],
        memory_size: int,
        lock_timeout: int,
        lock_wait: float,
    ) -> None:
        self.kind = kind
        self.cache_alias = cache_alias
        self.early = early  # seconds before expires_at a token is no longer handed out
        self.memory_size = memory_size
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self._memory: OrderedDict[str, T] = OrderedDict()
        self._memory_lock = threading.Lock()
        self._thread_locks: dict[str, threading.Lock] = {}

    def fresh(self, found: T, now: float) -> bool:
        return found.expires_at - self.early() > now

    def _cache(self) -> Any:
        return caches[self.cache_alias()]

    def _remember(self, key: str, found: T) -> None:
        with self._memory_lock:
            self._memory[key] = found
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_size:
                self._memory.popitem(last=False)

    def _from_memory(self, key: str, now: float) -> T | None:
        with self._memory_lock:
            found = self._memory.get(key)
            if found is not None and not self.fresh(found, now):
                del self._memory[key]
                found = None
        return found

    def _from_cache(self, key: str, now: float) -> T | None:
        stored = self._cache().get(key)
        if not isinstance(stored, str):
            return None
        try:
            found = self.kind(**json.loads(crypto.decrypt(stored)))
        except (SecretDecryptionError, ValueError, KeyError, TypeError):
            return None  # another key, or garbage: ask again
        if not self.fresh(found, now):
            return None
        self._remember(key, found)
        return found

    def _store(self, key: str, found: T, now: float) -> None:
        self._remember(key, found)
        timeout = int(found.expires_at - self.early() - now)
        if timeout > 0:
            payload = json.dumps(dataclasses.asdict(found))  # type: ignore[call-overload]
            self._cache().set(key, crypto.encrypt(payload), timeout)

    def _thread_lock(self, key: str) -> threading.Lock:
        with self._memory_lock:
            return self._thread_locks.setdefault(key, threading.Lock())

    def _wait_for_other_process(self, key: str) -> T | None:
        deadline = time.monotonic() + self.lock_wait
        while time.monotonic() < deadline:
            time.sleep(0.05)
            found = self._from_cache(key, time.time())
            if found is not None:
                return found
            if self._cache().get(key + ":lock") is None:
                # The winner gave up (its request failed): ask ourselves, now.
                return self._from_cache(key, time.time())
        return None

    def get(self, key: str, fetch: Callable[[], T], *, now: float | None = None) -> T:
        """The cached token for ``key``, else ``fetch()`` once across threads and processes."""
        found = self._from_memory(key, time.time() if now is None else now)
        if found is not None:
            return found
        with self._thread_lock(key):
            now = time.time() if now is None else now
            found = self._from_memory(key, now) or self._from_cache(key, now)
            if found is not None:
                return found
            cache, lock_key = self._cache(), key + ":lock"
            locked = cache.add(lock_key, 1, self.lock_timeout)
            try:
                if not locked:
                    found = self._wait_for_other_process(key)
                    if found is not None:
                        return found
                found = fetch()
                self._store(key, found, time.time())
                return found
            finally:
                if locked:
                    cache.delete(lock_key)

    def forget(self, key: str) -> None:
        """Drop a token (the product refused it): the next ``get`` fetches a new one."""
        with self._memory_lock:
            self._memory.pop(key, None)
        self._cache().delete(key)

    def clear_memory(self) -> None:
        """Forget the tokens this process holds (tests; the Django cache keeps its copy)."""
        with self._memory_lock:
            self._memory.clear()
