"""Claims on one unit of housekeeping work, so concurrent runs never do it twice;
and the chunks the per-item jobs are cut into.

A claim is a key added to Django's cache with ``add()`` (atomic in every
backend: only one caller creates the key) and a time to live, so a worker that
dies holding one does not block the item for longer than
``HOUSEKEEPING_LOCK_TTL`` seconds::

    token = claim("verify:42")
    if token is not None:
        try:
            ...  # the work
        finally:
            release("verify:42", token)

or, for many keys at once, :func:`claimed`, which releases what is still held
when the block ends::

    with claimed(["verify:41", "verify:42"]) as held:
        for key in held:
            ...  # the work
            held.release(key)  # as soon as it is done

The cache is ``HOUSEKEEPING_LOCK_ALIAS`` (default ``"default"``). Workers in
several processes need a cache they share (Redis, Memcached, the database
cache): with the per-process ``LocMemCache`` a claim only keeps out other
threads of the same process. ``None`` turns claims off (every claim succeeds).
A cache that fails is logged and the work goes ahead: each job also checks that
an item is still due before working on it, so a lost claim costs a duplicate
call at worst, never a wrong result.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.core.cache import caches

from ..conf import connect_settings

__all__ = ["Held", "chunks", "claim", "claimed", "release"]

T = TypeVar("T")

logger = logging.getLogger("django_atlassian_connect")

_PREFIX = "atlassian_connect:claim:"


def _cache():  # type: ignore[no-untyped-def]
    alias = connect_settings.HOUSEKEEPING_LOCK_ALIAS
    return caches[alias] if alias else None


def claim(name: str, ttl: float | None = None) -> str | None:
    """A token when this caller now holds ``name``, ``None`` when someone else does."""
    token = uuid.uuid4().hex
    cache = _cache()
    if cache is None:
        return token
    timeout = connect_settings.HOUSEKEEPING_LOCK_TTL if ttl is None else ttl
    try:
        return token if cache.add(_PREFIX + name, token, timeout) else None
    except Exception as exc:  # a cache outage must not stop housekeeping
        logger.warning(
            "claim %s: the lock cache failed (%s); going ahead", name, type(exc).__name__
        )
        return token


def release(name: str, token: str) -> None:
    """Give ``name`` up, if the claim is still ours (not expired and taken by another)."""
    cache = _cache()
    if cache is None:
        return
    try:
        # get-then-delete is not atomic: in the rare case the claim expired and was
        # taken in between, the other holder's item may be claimed once more later;
        # its due check (made after claiming) keeps that from repeating work.
        if cache.get(_PREFIX + name) == token:
            cache.delete(_PREFIX + name)
    except Exception as exc:
        logger.warning("release %s: the lock cache failed (%s)", name, type(exc).__name__)


class Held:
    """The keys a :func:`claimed` block holds; ``refused``: those another caller held."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self.refused: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._tokens))

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, key: object) -> bool:
        return key in self._tokens

    def release(self, key: str) -> None:
        """Give ``key`` up now (its work is done); a key not held is ignored."""
        token = self._tokens.pop(key, None)
        if token is not None:
            release(key, token)


@contextmanager
def claimed(keys: Iterable[str], ttl: float | None = None) -> Iterator[Held]:
    """Claim each of ``keys``; yield the ones now held, release those left in ``finally``."""
    held = Held()
    try:
        # Inside the try: a failure while claiming still gives back what was taken.
        for key in keys:
            token = claim(key, ttl)
            if token is None:
                held.refused.append(key)
            else:
                held._tokens[key] = token
        yield held
    finally:
        for key in held:
            held.release(key)


def chunks(items: Iterable[T], size: int | None = None) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (default ``HOUSEKEEPING_CHUNK_SIZE``)."""
    size = size or int(connect_settings.HOUSEKEEPING_CHUNK_SIZE)
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
