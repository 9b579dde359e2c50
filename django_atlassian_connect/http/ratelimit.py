"""The product's rate limits, as each answer reports them, shared by every process.

Jira Cloud (since 2026-03-02) counts points per app and site per hour, limits
bursts per second and writes per issue. Its answers say where a caller stands::

    X-RateLimit-Limit: 100            X-RateLimit-Remaining: 12
    X-RateLimit-Reset: 2026-03-02T14:00Z        X-RateLimit-NearLimit: true
    RateLimit-Reason: jira-quota-global-based   Retry-After: 30 (on a 429)

and, in the wild, ``Beta-``/``X-Beta-`` spellings of the same
(``Beta-RateLimit-Reset``, ``Beta-Retry-After``, ``Beta-RateLimit-Policy:
"q";q=100;w=3600``, ``Beta-RateLimit: "q";r=12;t=2107``). Names are matched
case-insensitively; a value that cannot be read is ignored, never an error.

Per tenant (its ``clientKey``), two entries in Django's cache
(``RATE_LIMIT_CACHE_ALIAS``; default the ``TENANT_CACHE_ALIAS`` cache), so
every process and worker that shares it sees them:

- the last quota seen (:func:`get_state`; ``ConnectClient(tenant).rate_limit``);
- after a 429, a backoff (:func:`get_backoff`): until ``Retry-After`` seconds,
  else until ``X-RateLimit-Reset``, else :data:`DEFAULT_BACKOFF` seconds, and
  never longer than ``RATE_LIMIT_MAX_BACKOFF`` (default one hour): the header is
  the site's word, but a value of a year (or ``1e12``) must not lock a tenant out.
  Every session for that tenant waits it out before sending
  (:func:`wait_for_backoff`), or refuses at once when it lasts longer than
  ``MAX_RETRY_AFTER``.

The quota entry is written at most once per ``RATE_LIMIT_STATE_INTERVAL``
seconds per tenant and process (so a busy process does not write the shared
cache on every answer), except when it says something new: a 429, NearLimit
turning on or off, the quota running out, another limit or
``RateLimit-Reason``. A backoff is always written.

Times are seconds since the epoch in the cache (``now`` arguments: an
injectable clock), aware datetimes in :class:`RateLimitState`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import BaseCache, caches

from ..conf import connect_settings
from ..exceptions import RateLimitBackoffError
from .ratelimit_headers import RateLimitState, iso, parse_headers, rate_limited_hint, retry_wait

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "RateLimitState",
    "clear",
    "describe",
    "forget_process_memory",
    "get_backoff",
    "get_state",
    "housekeeping_deferral",
    "max_backoff",
    "parse_headers",
    "rate_limited_hint",
    "record",
    "retry_wait",
    "wait_for_backoff",
]

logger = logging.getLogger("django_atlassian_connect")

_PREFIX = "atlassian_connect:ratelimit:v1:"
#: Seconds every process waits after a 429 that names no time at all.
DEFAULT_BACKOFF = 5.0
#: How long the last quota seen is kept (the admin and connect_tenants show it).
STATE_TTL = 24 * 3600
#: RATE_LIMIT_MAX_BACKOFF when the setting is not a positive number.
DEFAULT_MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Backoff:
    """After a 429: no call to the tenant's site before ``until`` (all processes)."""

    until: datetime
    since: datetime  # when the 429 was received
    reason: str

    def remaining(self, now: float) -> float:
        return max(0.0, self.until.timestamp() - now)


# -- the shared cache ----------------------------------------------------------------------------


def _cache() -> BaseCache:
    alias = (
        connect_settings.RATE_LIMIT_CACHE_ALIAS or connect_settings.TENANT_CACHE_ALIAS or "default"
    )
    return caches[alias]


def _key(kind: str, client_key: str) -> str:
    # Hashed: a clientKey may hold characters or a length memcached refuses.
    return _PREFIX + kind + ":" + hashlib.sha256(client_key.encode()).hexdigest()[:40]


def _get(key: str) -> Any:
    try:
        return _cache().get(key)
    except Exception as exc:  # a cache outage must not stop outbound calls
        logger.warning("rate-limit cache unavailable (%s): %s", type(exc).__name__, exc)
        return None


def _set(key: str, value: Any, timeout: float) -> None:
    try:
        _cache().set(key, value, timeout=max(1, math.ceil(timeout)))
    except Exception as exc:
        logger.warning("rate-limit cache unavailable (%s): %s", type(exc).__name__, exc)


def _stamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _moment(stamp: Any) -> datetime | None:
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        return None
    try:
        return datetime.fromtimestamp(stamp, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a poisoned entry is no entry
        return None


def max_backoff() -> float:
    """``RATE_LIMIT_MAX_BACKOFF`` in seconds (the default when it is not a positive number)."""
    try:
        value = float(connect_settings.RATE_LIMIT_MAX_BACKOFF)
    except (TypeError, ValueError):
        return DEFAULT_MAX_BACKOFF
    return value if math.isfinite(value) and value > 0 else DEFAULT_MAX_BACKOFF


def record(
    client_key: str,
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
    status: int,
    *,
    now: float | None = None,
) -> RateLimitState | None:
    """Store what an answer from ``client_key``'s site reports; after a 429, the backoff."""
    now = time.time() if now is None else now
    state = parse_headers(headers, status=status, now=now)
    if state is None:
        return None
    if not _state_worth_writing(client_key, state, status, now):
        return state
    # Plain values, not the dataclass: a cached entry outlives a code change.
    _set(
        _key("state", client_key),
        {
            "limit": state.limit,
            "remaining": state.remaining,
            "reset": _stamp(state.reset),
            "near_limit": state.near_limit,
            "reason": state.reason,
            "retry_after": state.retry_after,
            "observed_at": now,
        },
        STATE_TTL,
    )
    if status == 429:
        _record_backoff(client_key, state, now)
    return state


#: Per process: client_key -> (written at, what it said) of the last quota written.
_last_written: OrderedDict[str, tuple[float, tuple[Any, ...]]] = OrderedDict()
_last_written_lock = threading.Lock()
_LAST_WRITTEN_SIZE = 10_000


def _state_worth_writing(client_key: str, state: RateLimitState, status: int, now: float) -> bool:
    """Whether this answer's quota goes to the shared cache (see the module's docs)."""
    interval = float(connect_settings.RATE_LIMIT_STATE_INTERVAL or 0)
    said = (bool(state.near_limit), state.remaining == 0, state.limit, state.reason or "")
    with _last_written_lock:
        last = _last_written.get(client_key)
        if (
            status != 429
            and interval > 0
            and last is not None
            and last[1] == said
            and 0 <= now - last[0] < interval
        ):
            return False
        _last_written[client_key] = (now, said)
        _last_written.move_to_end(client_key)
        while len(_last_written) > _LAST_WRITTEN_SIZE:
            _last_written.popitem(last=False)
    return True


def _record_backoff(client_key: str, state: RateLimitState, now: float) -> None:
    if state.retry_after is not None:
        wait = state.retry_after
    elif state.reset is not None and state.reset.timestamp() > now:
        wait = state.reset.timestamp() - now
    else:
        wait = DEFAULT_BACKOFF
    cap = max_backoff()
    if wait > cap:
        logger.warning(
            "%s answered 429 asking for a %.0f s backoff; clamped to RATE_LIMIT_MAX_BACKOFF "
            "(%.0f s)",
            client_key,
            wait,
            cap,
            extra={"connect_code": "api_rate_limited"},
        )
        wait = cap
    until = now + wait
    current = get_backoff(client_key, now=now)
    if current is not None and current.until.timestamp() >= until - 1.0:
        return  # another 429 (or this one, seen by the retry) already asked for as long
    entry = {"until": until, "since": now, "reason": state.reason}
    _set(_key("backoff", client_key), entry, wait + 1)
    logger.warning(
        "%s answered 429 (%s): every process waits %.1f s before calling it again",
        client_key,
        state.reason or "no RateLimit-Reason",
        wait,
        extra={"connect_code": "api_rate_limited"},
    )


def get_state(client_key: str) -> RateLimitState | None:
    """The last rate-limit state seen for ``client_key`` by any process, or ``None``."""
    entry = _get(_key("state", client_key))
    if not isinstance(entry, dict):
        return None
    observed = _moment(entry.get("observed_at"))
    if observed is None:
        return None
    return RateLimitState(
        limit=entry.get("limit"),
        remaining=entry.get("remaining"),
        reset=_moment(entry.get("reset")),
        near_limit=bool(entry.get("near_limit")),
        reason=str(entry.get("reason") or ""),
        retry_after=entry.get("retry_after"),
        observed_at=observed,
    )


def get_backoff(client_key: str, *, now: float | None = None) -> Backoff | None:
    """The backoff after a 429 for ``client_key``, if it still runs at ``now``."""
    now = time.time() if now is None else now
    entry = _get(_key("backoff", client_key))
    if not isinstance(entry, dict):
        return None
    until, since = _moment(entry.get("until")), _moment(entry.get("since"))
    if until is None or since is None or until.timestamp() <= now:
        return None
    # An entry written before the clamp (or under a larger setting) ends at the clamp now.
    latest = min(since.timestamp(), now) + max_backoff()
    if until.timestamp() > latest:
        if latest <= now:
            return None
        until = datetime.fromtimestamp(latest, tz=UTC)
    return Backoff(until=until, since=since, reason=str(entry.get("reason") or ""))


def forget_process_memory() -> None:
    """Forget which quotas this process wrote last (call it after clearing the cache)."""
    with _last_written_lock:
        _last_written.clear()


def clear(client_key: str) -> None:
    """Forget the state and backoff of ``client_key`` (tests, or after a manual fix)."""
    with _last_written_lock:
        _last_written.pop(client_key, None)
    try:
        _cache().delete_many([_key("state", client_key), _key("backoff", client_key)])
    except Exception as exc:
        logger.warning("rate-limit cache unavailable (%s): %s", type(exc).__name__, exc)


# -- acting on it ----------------------------------------------------------------------------


def wait_for_backoff(
    client_key: str,
    *,
    max_wait: float,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.time,
    **context: Any,
) -> float:
    """Before a call to ``client_key``'s site: sleep out its backoff, return the seconds slept.

    A backoff that ends later than ``max_wait`` seconds (counting what was
    already slept) raises :class:`RateLimitBackoffError` at once: nothing is
    sent. ``context`` (``tenant``, ``method``, ``url``) goes on the error.
    """
    slept = 0.0
    for _ in range(3):  # another 429 may extend the backoff while we sleep
        now = clock()
        backoff = get_backoff(client_key, now=now)
        if backoff is None:
            return slept
        wait = backoff.remaining(now)
        if slept + wait > max_wait:
            about = {
                **context,
                "client_key": client_key,
                "backoff_until": backoff.until,
                "limited_at": backoff.since,
                "wait": wait,
                "reason": backoff.reason,
            }
            raise RateLimitBackoffError(
                f"Not sent: {client_key}'s site answered 429 at {iso(backoff.since)} "
                f"({backoff.reason or 'no RateLimit-Reason'}); every process waits until "
                f"{iso(backoff.until)}, {wait:.0f} s from now, longer than "
                f"MAX_RETRY_AFTER ({max_wait:g} s).",
                **about,
            )
        sleep(wait)
        slept += wait
    return slept


def housekeeping_deferral(client_key: str, *, now: float | None = None) -> str | None:
    """Why housekeeping should leave ``client_key``'s site alone now: ``"backoff"``
    (a 429 is being waited out), ``"near_limit"`` (the quota is nearly spent), or ``None``."""
    now = time.time() if now is None else now
    if get_backoff(client_key, now=now) is not None:
        return "backoff"
    state = get_state(client_key)
    if state is not None and state.near_limit_at(now):
        return "near_limit"
    return None


def describe(
    state: RateLimitState | None, backoff: Backoff | None = None, *, now: float | None = None
) -> str:
    """One line for people (admin, ``connect_tenants``); ``"-"`` when nothing was seen."""
    parts = []
    if state is not None:
        if state.limit is not None or state.remaining is not None:
            parts.append(
                f"{'?' if state.remaining is None else state.remaining}"
                f"/{'?' if state.limit is None else state.limit} left"
            )
        if state.reset is not None:
            parts.append(f"resets {iso(state.reset)}")
        if state.near_limit:
            parts.append("near limit")
        if state.reason:
            parts.append(state.reason)
        parts.append(f"seen {iso(state.observed_at)}")
    if backoff is not None:
        parts.append(f"backoff until {iso(backoff.until)}")
    return ", ".join(parts) or "-"
