"""Fetching one JWKS document: bounded in size and time, one fetch per URL at a time.

A request that needs Forge's keys waits at most ``wait`` seconds for them
(``FORGE_JWKS_FETCH_TIMEOUT``, at most 5 s), counted from when the fetch
started: the total, not per socket read, so a key host that trickles its
answer cannot hold a request longer. Requests of this process that need the
same URL meanwhile join the fetch under way instead of starting another, and
wait no longer than its first waiter. The fetch itself runs in a daemon
thread for up to :data:`BACKGROUND_LIMIT` seconds, so a slow but working key
host still delivers its set for the next request after the waiters gave up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .. import __version__

logger = logging.getLogger("django_atlassian_connect")

MIN_TTL, DEFAULT_TTL, MAX_TTL = 300, 3600, 86400
MAX_JWKS_BYTES = 100 * 1024
#: Spec 3.5: a JWKS fetch may take 5 s at most; the setting can only lower it.
MAX_WAIT = 5.0
#: The longest a fetch that outlived its waiters may still run (one per URL).
BACKGROUND_LIMIT = 30.0
_READ_SIZE = 16 * 1024
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Fetched:
    """A JWKS document as fetched, its usable keys and its freshness."""

    document: dict[str, Any] = field(repr=False)
    keys: dict[str, RSAPublicKey] = field(repr=False)
    ttl: int
    fetched_at: float


@dataclass
class _Pending:
    future: Future[Fetched]
    deadline: float  # time.monotonic() after which no request waits for it

    def abandoned(self, now: float) -> bool:
        """Past any time its thread may run (e.g. the thread did not survive a fork)."""
        return now > self.deadline + BACKGROUND_LIMIT


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()
_generation = 0


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


def ttl_of(cache_control: str | None) -> int:
    """``max-age`` clamped to 5 min-24 h; 1 h without one (spec 3.5)."""
    match = _MAX_AGE.search(cache_control or "")
    if not match:
        return DEFAULT_TTL
    return max(MIN_TTL, min(MAX_TTL, int(match.group(1))))


def _read_body(response: requests.Response, deadline: float) -> bytes:
    raw = response.raw
    # read1 returns what one recv gave, so the deadline is checked between them.
    read = getattr(raw, "read1", None) or raw.read
    body = bytearray()
    while True:
        chunk = read(_READ_SIZE, decode_content=True)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError(f"answered more than {MAX_JWKS_BYTES} bytes")
        if time.monotonic() > deadline:
            raise ValueError("answered too slowly")


def download(url: str, *, connect_timeout: float, deadline: float) -> Fetched:
    """The JWKS at ``url`` before ``deadline`` (monotonic); ``ValueError`` on any failure."""
    try:
        with requests.get(
            url,
            timeout=(connect_timeout, max(0.1, deadline - time.monotonic())),
            allow_redirects=False,
            stream=True,
            headers={"User-Agent": f"django-atlassian-connect/{__version__}"},
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"answered {response.status_code}")
            body = _read_body(response, deadline)
            cache_control = response.headers.get("Cache-Control")
    except requests.RequestException as exc:
        raise ValueError(type(exc).__name__) from exc
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("answered something that is not JSON") from exc
    # A set without one usable key is refused before anything caches it.
    return Fetched(document, parse_jwks(document), ttl_of(cache_control), time.time())


#: ``on_result(fetched)``: keep a successful fetch (called in the fetching thread).
OnResult = Callable[[Fetched], None]


def _run(url: str, pending: _Pending, generation: int, wait: float, on_result: OnResult) -> None:
    try:
        fetched = download(url, connect_timeout=wait, deadline=time.monotonic() + BACKGROUND_LIMIT)
    except Exception as exc:
        if not isinstance(exc, ValueError):
            logger.exception("Forge JWKS fetch crashed: %s", url)
            exc = ValueError(type(exc).__name__)
        logger.warning("Forge JWKS fetch failed: %s %s", url, exc)
        with _lock:
            if _pending.get(url) is pending:
                del _pending[url]
        pending.future.set_exception(exc)
        return
    logger.info("Forge JWKS fetched: %s (fresh for %d s)", url, fetched.ttl)
    with _lock:
        if _pending.get(url) is pending:
            del _pending[url]
        if generation == _generation:  # not forgotten meanwhile (clear_memory_cache)
            on_result(fetched)
    pending.future.set_result(fetched)


def _start(url: str, wait: float, on_result: OnResult) -> _Pending:
    """Register and start the fetch of ``url``, or return the one another thread started."""
    with _lock:
        pending = _pending.get(url)
        now = time.monotonic()
        if pending is None or pending.abandoned(now):
            pending = _pending[url] = _Pending(Future(), now + wait)
            threading.Thread(
                target=_run,
                args=(url, pending, _generation, wait, on_result),
                name="forge-jwks-fetch",
                daemon=True,
            ).start()
        return pending


def shared_fetch(
    url: str, *, wait: float, may_start: Callable[[], bool], on_result: OnResult
) -> Fetched | None:
    """The JWKS at ``url``, fetched once for every request of this process that needs it.

    Joins the fetch of ``url`` under way, if any; otherwise starts one when
    ``may_start()`` allows it (the refetch window shared by all processes).
    Waits until ``wait`` seconds after that fetch started, at most. ``None``:
    no fetch was allowed, it failed, or it did not finish in time (then
    ``on_result`` still gets it if it succeeds within :data:`BACKGROUND_LIMIT`).
    """
    wait = max(0.1, min(float(wait), MAX_WAIT))
    with _lock:
        pending = _pending.get(url)
    if pending is None or pending.abandoned(time.monotonic()):
        if may_start():
            pending = _start(url, wait, on_result)
        else:  # the window is taken; by a fetch of this process, it may be joined
            with _lock:
                pending = _pending.get(url)
            if pending is None or pending.abandoned(time.monotonic()):
                return None
    try:
        return pending.future.result(timeout=max(0.0, pending.deadline - time.monotonic()))
    except FutureTimeout:
        logger.warning("Forge JWKS fetch: no answer from %s within %g s", url, wait)
    except ValueError:
        pass  # logged by the fetching thread
    return None


def forget() -> None:
    """Drop the fetches under way: their results are not kept (tests)."""
    global _generation
    with _lock:
        _generation += 1
        _pending.clear()


def _after_fork_in_child() -> None:
    # The fetching threads are not copied into a forked worker: start afresh.
    global _lock, _generation
    _lock = threading.Lock()
    _generation += 1
    _pending.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
