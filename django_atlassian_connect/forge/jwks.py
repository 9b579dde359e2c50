"""Forge's signing keys (JWKS), cached: one fetch serves every process for hours.

The URL comes from configuration only (``FORGE_JWKS_URL``, or for Isolated
Cloud a label on ``FORGE_IC_LABELS``), never from a token
(atlassian-connect-express picks the staging set from an unverified claim).
Three layers:

- process memory: the parsed keys of each URL until the set's freshness
  runs out, so a warm verification makes no cache read and no fetch; at
  most :data:`MAX_KEY_SETS` sets, the least recently used dropped first;
- Django's cache (``FORGE_JWKS_CACHE_ALIAS``): the last good set per URL,
  kept for a week whatever its freshness, so an outage of the JWKS host is
  served from the last good copy;
- the network: when the set is stale (``Cache-Control: max-age``, clamped to
  5 min-24 h, 1 h by default) or a token names a kid the set lacks. Either
  way at most one fetch per ``FORGE_JWKS_MIN_REFRESH`` seconds per URL across
  every process (a cache lock), so a flood of unknown kids costs one fetch;
  the requests of a process share that fetch, and none waits longer than
  ``FORGE_JWKS_FETCH_TIMEOUT`` for it (:mod:`.jwks_fetch`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.core.cache import caches

from ..conf import connect_settings
from ..exceptions import ForgeAuthError
from . import jwks_fetch
from .jwks_fetch import DEFAULT_TTL, MAX_JWKS_BYTES, MAX_TTL, MIN_TTL, parse_jwks

logger = logging.getLogger("django_atlassian_connect")

__all__ = [
    "DEFAULT_TTL",
    "MAX_JWKS_BYTES",
    "MAX_KEY_SETS",
    "MAX_TTL",
    "MIN_TTL",
    "KeySet",
    "clear_memory_cache",
    "parse_jwks",
    "signing_key",
]

KEEP_LAST_GOOD = 7 * 86400
#: Key sets held in process memory, least recently used dropped first. Only
#: configured URLs get here (FORGE_JWKS_URL, one per FORGE_IC_LABELS label);
#: a dropped set comes back from the shared cache without a fetch.
MAX_KEY_SETS = 32
_PREFIX = "atlassian_connect:forge_jwks:"


@dataclass
class KeySet:
    """The usable RS256 keys of one JWKS document, by kid."""

    keys: dict[str, RSAPublicKey] = field(repr=False)
    fetched_at: float
    fresh_until: float

    def __repr__(self) -> str:
        return f"<KeySet kids={sorted(self.keys)} fresh_until={self.fresh_until:.0f}>"


_sets: OrderedDict[str, KeySet] = OrderedDict()
_lock = threading.Lock()


def _cache_key(url: str, suffix: str = "") -> str:
    return _PREFIX + hashlib.sha256(url.encode("utf-8")).hexdigest() + suffix


def _from_entry(entry: Any) -> KeySet | None:
    try:
        return KeySet(
            parse_jwks(entry["document"]), float(entry["fetched_at"]), float(entry["fresh_until"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _remember(url: str, keyset: KeySet) -> KeySet:
    """Keep ``keyset`` unless a newer one is known; the newest is returned."""
    with _lock:
        known = _sets.get(url)
        if known is not None and known.fetched_at > keyset.fetched_at:
            keyset = known
        _sets[url] = keyset
        _sets.move_to_end(url)
        while len(_sets) > MAX_KEY_SETS:
            _sets.popitem(last=False)
        return keyset


def _in_memory(url: str) -> KeySet | None:
    keyset = _sets.get(url)
    if keyset is not None:
        try:
            _sets.move_to_end(url)  # atomic; a set dropped meanwhile is just not found
        except KeyError:
            pass
    return keyset


def _shared(operation: str, *args: Any) -> Any:
    """``cache.<operation>(*args)`` on the shared cache; ``None`` when it cannot be reached.

    An unreachable cache (Redis restarting) is a miss, and a refetch claim it
    cannot grant is granted: this process's own throttle (one fetch per URL at
    a time) still holds, and Forge's calls keep being verified.
    """
    try:
        return getattr(caches[connect_settings.FORGE_JWKS_CACHE_ALIAS], operation)(*args)
    except Exception as exc:
        logger.warning("forge JWKS cache unavailable (%s): going without", type(exc).__name__)
        return None


def _refresh(url: str) -> KeySet | None:
    """A fresh set: fetched (or joined) if no process fetched within FORGE_JWKS_MIN_REFRESH."""
    window = max(1, int(connect_settings.FORGE_JWKS_MIN_REFRESH))

    def may_start() -> bool:
        granted = _shared("add", _cache_key(url, ":refetch"), time.time(), window)
        return granted is None or bool(granted)

    def keep(fetched: jwks_fetch.Fetched) -> None:
        _remember(url, _key_set(fetched))

    fetched = jwks_fetch.shared_fetch(
        url,
        wait=float(connect_settings.FORGE_JWKS_FETCH_TIMEOUT),
        may_start=may_start,
        on_result=keep,
    )
    if fetched is None:
        return None
    entry = {
        "document": fetched.document,
        "fetched_at": fetched.fetched_at,
        "fresh_until": fetched.fetched_at + fetched.ttl,
    }
    _shared("set", _cache_key(url), entry, KEEP_LAST_GOOD)
    return _remember(url, _key_set(fetched))


def _key_set(fetched: jwks_fetch.Fetched) -> KeySet:
    return KeySet(fetched.keys, fetched.fetched_at, fetched.fetched_at + fetched.ttl)


def signing_key(kid: str, url: str, *, now: float | None = None) -> RSAPublicKey:
    """The public key named ``kid`` in the JWKS at ``url``.

    ``key_invalid`` (401) when the set lacks ``kid`` even after the refetch
    it may trigger; ``key_unavailable`` (503) when no set can be had at all.
    """
    now = time.time() if now is None else now
    keyset = _in_memory(url)
    if keyset is not None and now < keyset.fresh_until and kid in keyset.keys:
        return keyset.keys[kid]  # the warm path: no cache read, no fetch
    # Another process may have fetched a newer set: the shared cache first.
    entry = _shared("get", _cache_key(url))
    cached = _from_entry(entry) if entry is not None else None
    if cached is not None and (keyset is None or cached.fetched_at > keyset.fetched_at):
        keyset = _remember(url, cached)
    if keyset is None or now >= keyset.fresh_until or kid not in keyset.keys:
        # None: no fetch allowed, or it failed or was too slow; a fetch of this
        # process that finished meanwhile is in memory.
        keyset = _refresh(url) or _in_memory(url) or keyset
    if keyset is None:
        raise ForgeAuthError(
            "key_unavailable",
            f"Forge's signing keys could not be fetched from {url} and no earlier copy is "
            "cached; nothing was changed.",
        )
    if kid not in keyset.keys:
        raise ForgeAuthError(
            "key_invalid",
            f"The token's kid {kid[:80]!r} is not among the {len(keyset.keys)} keys of "
            f"{url} (fetched {int(now - keyset.fetched_at)} s ago).",
        )
    return keyset.keys[kid]


def clear_memory_cache() -> None:
    """Forget the sets held in this process and the fetches under way (tests;
    the Django cache is separate)."""
    jwks_fetch.forget()  # first: its lock is always taken before ours
    with _lock:
        _sets.clear()
