"""Run a Forge delivery's work once, however often Forge redelivers it.

Forge documents no delivery id, retries a failed event up to 4 more times,
60 s apart, each with a fresh FIT, and may redeliver while a slow first
attempt still runs (it gave up waiting after 5 s). A delivery's key (built by
the caller from what identifies the event) goes through three states in
``FORGE_JWKS_CACHE_ALIAS`` (share it between processes):

- :func:`claim`: ``cache.add(key, "pending")`` for :data:`PENDING_TTL`:
  :data:`CLAIMED` (run the work), :data:`IN_PROGRESS` (another delivery is
  running it: answer non-2xx so Forge comes back) or :data:`DUPLICATE` (done
  before: acknowledge);
- :func:`complete`: the work succeeded; remembered as done for ``ttl``;
- :func:`release`: the work failed; the next delivery runs it again.

:data:`PENDING_TTL` is shorter than Forge's 60 s between retries: a process
that died holding a claim blocks no retry. A cache that cannot be reached
lets the work run (logged): doing it twice beats never doing it.
"""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from ..conf import connect_settings

__all__ = ["CLAIMED", "DUPLICATE", "IN_PROGRESS", "PENDING_TTL", "claim", "complete", "release"]

logger = logging.getLogger("django_atlassian_connect")

CLAIMED = "claimed"
IN_PROGRESS = "in_progress"
DUPLICATE = "duplicate"
#: Seconds a claim holds while its work runs: under Forge's 60 s between deliveries.
PENDING_TTL = 55
_PENDING = "pending"
_DONE = "done"


def _cache() -> BaseCache:
    return caches[connect_settings.FORGE_JWKS_CACHE_ALIAS]


def claim(key: str) -> str:
    """:data:`CLAIMED`, :data:`IN_PROGRESS` or :data:`DUPLICATE` for the delivery ``key``."""
    try:
        cache = _cache()
        for _ in range(2):  # the second turn: the claim expired between add() and get()
            if cache.add(key, _PENDING, PENDING_TTL):
                return CLAIMED
            state = cache.get(key)
            if state == _DONE:
                return DUPLICATE
            if state is not None:
                return IN_PROGRESS
    except Exception as exc:
        logger.warning(
            "forge delivery dedupe cache unavailable (%s): run without it", type(exc).__name__
        )
    return CLAIMED


def complete(key: str, ttl: int) -> None:
    """The delivery's work is done: later deliveries of ``key`` are duplicates for ``ttl`` s."""
    try:
        _cache().set(key, _DONE, ttl)
    except Exception as exc:
        logger.warning(
            "forge delivery dedupe cache unavailable (%s): not marked done", type(exc).__name__
        )


def release(key: str) -> None:
    """The delivery's work failed: the next delivery of ``key`` runs it again."""
    try:
        _cache().delete(key)
    except Exception as exc:
        logger.warning(
            "forge delivery dedupe cache unavailable (%s): claim not released", type(exc).__name__
        )
