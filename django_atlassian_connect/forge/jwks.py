"""Forge's signing keys (JWKS), cached: one fetch serves every process for hours.

The URL comes from configuration only (``FORGE_JWKS_URL``), never from a
token (atlassian-connect-express picks the staging set from an unverified
claim). Three layers:

- process memory: the parsed keys of each URL until the set's freshness
  runs out, so a warm verification makes no cache read and no fetch;
- Django's cache (``FORGE_JWKS_CACHE_ALIAS``): the last good set per URL,
  kept for a week whatever its freshness, so an outage of the JWKS host is
  served from the last good copy;
- the network: when the set is stale (``Cache-Control: max-age``, clamped to
  5 min-24 h, 1 h by default) or a token names a kid the set lacks. Either
  way at most one fetch per ``FORGE_JWKS_MIN_REFRESH`` seconds per URL across
  every process (a cache lock), so a flood of unknown kids costs one fetch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.core.cache import caches
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .. import __version__
from ..conf import connect_settings
from ..exceptions import ForgeAuthError

logger = logging.getLogger("django_atlassian_connect")

MIN_TTL, DEFAULT_TTL, MAX_TTL = 300, 3600, 86400
KEEP_LAST_GOOD = 7 * 86400
MAX_JWKS_BYTES = 100 * 1024
_PREFIX = "atlassian_connect:forge_jwks:"
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class KeySet:
    """The usable RS256 keys of one JWKS document, by kid."""

    keys: dict[str, RSAPublicKey] = field(repr=False)
    fetched_at: float
    fresh_until: float

    def __repr__(self) -> str:
        return f"<KeySet kids={sorted(self.keys)} fresh_until={self.fresh_until:.0f}>"


_sets: dict[str, KeySet] = {}
_lock = threading.Lock()


def _cache_key(url: str, suffix: str = "") -> str:
    return _PREFIX + hashlib.sha256(url.encode("utf-8")).hexdigest() + suffix


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """The RSA signing keys of a JWKS document; keys of other types are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (an object with a 'keys' list)")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            key = PyJWK(jwk, algorithm="RS256").key
        except (PyJWKError, ValueError, TypeError, KeyError):
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = key
    if not keys:
        raise ValueError("the JWKS holds no RSA signing key")
    return keys


def _ttl(cache_control: str | None) -> int:
    match = _MAX_AGE.search(cache_control or "")
    if not match:
        return DEFAULT_TTL
    return max(MIN_TTL, min(MAX_TTL, int(match.group(1))))


def _download(url: str) -> tuple[dict[str, Any], int]:
    """The JWKS document and its freshness in seconds; ``ValueError`` on any failure."""
    timeout = min(float(connect_settings.FORGE_JWKS_FETCH_TIMEOUT), 5.0)
    try:
        with requests.get(
            url,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            headers={"User-Agent": f"django-atlassian-connect/{__version__}"},
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"answered {response.status_code}")
            body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"answered more than {MAX_JWKS_BYTES} bytes")
            cache_control = response.headers.get("Cache-Control")
    except requests.RequestException as exc:
        raise ValueError(type(exc).__name__) from exc
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("answered something that is not JSON") from exc
    parse_jwks(document)  # refuse a set without one usable key before caching it
    return document, _ttl(cache_control)


def _from_entry(entry: Any) -> KeySet | None:
    try:
        return KeySet(
            parse_jwks(entry["document"]), float(entry["fetched_at"]), float(entry["fresh_until"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _refresh(url: str, now: float) -> KeySet | None:
    """Fetch the set if no other process did within FORGE_JWKS_MIN_REFRESH; ``None`` if not."""
    cache = caches[connect_settings.FORGE_JWKS_CACHE_ALIAS]
    window = max(1, int(connect_settings.FORGE_JWKS_MIN_REFRESH))
    if not cache.add(_cache_key(url, ":refetch"), now, window):
        return None
    try:
        document, ttl = _download(url)
    except ValueError as exc:
        logger.warning("Forge JWKS fetch failed: %s %s", url, exc)
        return None
    entry = {"document": document, "fetched_at": now, "fresh_until": now + ttl}
    cache.set(_cache_key(url), entry, KEEP_LAST_GOOD)
    logger.info("Forge JWKS fetched: %s (fresh for %d s)", url, ttl)
    return _from_entry(entry)


def _remember(url: str, keyset: KeySet) -> KeySet:
    with _lock:
        known = _sets.get(url)
        if known is None or keyset.fetched_at >= known.fetched_at:
            _sets[url] = keyset
            return keyset
        return known


def signing_key(kid: str, url: str, *, now: float | None = None) -> RSAPublicKey:
    """The public key named ``kid`` in the JWKS at ``url``.

    ``key_invalid`` (401) when the set lacks ``kid`` even after the refetch
    it may trigger; ``key_unavailable`` (503) when no set can be had at all.
    """
    now = time.time() if now is None else now
    keyset = _sets.get(url)
    if keyset is not None and now < keyset.fresh_until and kid in keyset.keys:
        return keyset.keys[kid]  # the warm path: no cache read, no fetch
    # Another process may have fetched a newer set: the shared cache first.
    entry = caches[connect_settings.FORGE_JWKS_CACHE_ALIAS].get(_cache_key(url))
    cached = _from_entry(entry) if entry is not None else None
    if cached is not None and (keyset is None or cached.fetched_at > keyset.fetched_at):
        keyset = _remember(url, cached)
    if keyset is None or now >= keyset.fresh_until or kid not in keyset.keys:
        fresh = _refresh(url, now)
        if fresh is not None:
            keyset = _remember(url, fresh)
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
    """Forget the sets held in this process (tests; the Django cache is separate)."""
    with _lock:
        _sets.clear()
