"""Reading the product's rate-limit headers: what one answer says, as a :class:`RateLimitState`.

Names are matched case-insensitively, the documented spelling first, then the
``Beta-``/``X-Beta-`` spellings seen in the wild; the structured fields
``Beta-RateLimit-Policy: "q";q=100;w=3600`` and ``Beta-RateLimit: "q";r=12;t=60``
fill the limit, the remaining points and the reset when nothing else does. A
value that cannot be read is ignored, never an error. No Django, no cache:
:mod:`~django_atlassian_connect.http.ratelimit` keeps what is read here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "NEAR_LIMIT_HOLD",
    "RateLimitState",
    "iso",
    "parse_headers",
    "rate_limited_hint",
    "retry_wait",
]

#: A NearLimit without a reset time counts (for housekeeping) this long after it was seen.
NEAR_LIMIT_HOLD = 300.0

#: Beyond this a reset is read as seconds since the epoch, below it as seconds from now.
_EPOCH_THRESHOLD = 10**9

# Each field's header names, the documented spelling first: the first that reads wins.
_LIMIT = ("x-ratelimit-limit", "beta-ratelimit-limit", "x-beta-ratelimit-limit")
_REMAINING = ("x-ratelimit-remaining", "beta-ratelimit-remaining", "x-beta-ratelimit-remaining")
_RESET = ("x-ratelimit-reset", "beta-ratelimit-reset", "x-beta-ratelimit-reset")
_NEAR = ("x-ratelimit-nearlimit", "beta-ratelimit-nearlimit", "x-beta-ratelimit-nearlimit")
_REASON = ("ratelimit-reason", "x-ratelimit-reason", "beta-ratelimit-reason")
_REASON_MORE = ("x-beta-ratelimit-reason",)
_RETRY_AFTER = ("retry-after", "beta-retry-after", "x-beta-retry-after")
# Structured fields (IETF draft): policy "name";q=<quota>;w=<window>, state "name";r=;t=.
_POLICY = ("ratelimit-policy", "beta-ratelimit-policy")
_RATELIMIT = ("ratelimit", "beta-ratelimit")


@dataclass(frozen=True)
class RateLimitState:
    """What one answer said about the tenant's rate limits (``None``: not said)."""

    limit: int | None
    remaining: int | None
    reset: datetime | None
    near_limit: bool
    reason: str
    retry_after: float | None
    observed_at: datetime

    def near_limit_at(self, now: float) -> bool:
        """NearLimit still applies at ``now``: until the reset, or for a while if none."""
        if not self.near_limit:
            return False
        if self.reset is not None:
            return self.reset.timestamp() > now
        return now - self.observed_at.timestamp() < NEAR_LIMIT_HOLD


# -- reading headers -------------------------------------------------------------------------


def _lower(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    try:
        return {str(k).lower(): str(v).strip() for k, v in items}
    except (TypeError, ValueError, AttributeError):
        return {}


def _first(values: dict[str, str], names: Iterable[str], parse: Callable[[str], Any]) -> Any:
    for name in names:
        if name in values:
            parsed = parse(values[name])
            if parsed is not None:
                return parsed
    return None


def _count(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _flag(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value.lower())


def _reason(value: str) -> str | None:
    # A short printable token: the value ends up in logs and the admin.
    text = value[:100]
    return text if text and text.isprintable() else None


def _when(value: str, now: float) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive is UTC) or a number, as an aware datetime."""
    number = _seconds(value)
    if number is not None:
        moment = number if number >= _EPOCH_THRESHOLD else now + number
        try:
            return datetime.fromtimestamp(moment, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _retry_after(value: str, now: float) -> float | None:
    """Seconds (``Retry-After: 30``) or an HTTP-date, as seconds from ``now``."""
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def _structured(values: dict[str, str], names: Iterable[str]) -> dict[str, float]:
    """The parameters of the first item of a structured field: ``"q";r=12;t=60`` -> r, t."""
    for name in names:
        if name not in values:
            continue
        params: dict[str, float] = {}
        for part in values[name].split(",", 1)[0].split(";")[1:]:
            key, _, raw = part.partition("=")
            number = _seconds(raw.strip())
            if number is not None:
                params[key.strip().lower()] = number
        if params:
            return params
    return {}


def parse_headers(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    status: int | None = None,
    now: float | None = None,
) -> RateLimitState | None:
    """The rate-limit state an answer's ``headers`` report; ``None`` when they say nothing.

    A ``Retry-After`` alone (a 503 may carry one) is no quota state, unless
    ``status`` is 429.
    """
    now = time.time() if now is None else now
    values = _lower(headers)
    policy = _structured(values, _POLICY)
    current = _structured(values, _RATELIMIT)
    limit = _first(values, _LIMIT, _count)
    if limit is None and "q" in policy:
        limit = int(policy["q"])
    remaining = _first(values, _REMAINING, _count)
    if remaining is None and "r" in current:
        remaining = int(current["r"])
    reset = _first(values, _RESET, lambda v: _when(v, now))
    if reset is None and "t" in current:
        reset = _when(str(current["t"]), now)
    near = _first(values, _NEAR, _flag)
    reason = _first(values, (*_REASON, *_REASON_MORE), _reason)
    retry_after = _first(values, _RETRY_AFTER, lambda v: _retry_after(v, now))
    said = (limit, remaining, reset, near, reason)
    if all(v is None for v in said) and not (status == 429):
        return None
    return RateLimitState(
        limit=limit,
        remaining=remaining,
        reset=reset,
        near_limit=bool(near),
        reason=reason or "",
        retry_after=retry_after,
        observed_at=datetime.fromtimestamp(now, tz=UTC),
    )


def retry_wait(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]], *, now: float | None = None
) -> float | None:
    """Seconds to wait before a retry: ``Retry-After`` (or ``Beta-Retry-After``), else
    until ``X-RateLimit-Reset`` (or ``Beta-``) when that is ahead; ``None``: neither."""
    now = time.time() if now is None else now
    values = _lower(headers)
    wait = _first(values, _RETRY_AFTER, lambda v: _retry_after(v, now))
    if wait is not None:
        return float(wait)
    reset = _first(values, _RESET, lambda v: _when(v, now))
    if reset is not None and reset.timestamp() > now:
        return reset.timestamp() - now
    return None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limited_hint(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]], *, now: float | None = None
) -> str:
    """The hint of a 429 answer: the reason, the quota, when it resets, what to do."""
    now = time.time() if now is None else now
    state = parse_headers(headers, status=429, now=now)
    assert state is not None  # a 429 always has a state
    said = [f"RateLimit-Reason {state.reason}" if state.reason else "no RateLimit-Reason"]
    if state.limit is not None or state.remaining is not None:
        said.append(f"limit {state.limit if state.limit is not None else '?'}")
        said.append(f"remaining {state.remaining if state.remaining is not None else '?'}")
    if state.reset is not None:
        said.append(f"resets {iso(state.reset)}")
    if state.retry_after is not None:
        said.append(f"Retry-After {state.retry_after:g} s")
    return (
        f"Rate limited ({'; '.join(said)}); retries are exhausted or the wait exceeded "
        "MAX_RETRY_AFTER. Every process now waits before calling this site again: lower "
        "your call rate or spread the work over time."
    )
