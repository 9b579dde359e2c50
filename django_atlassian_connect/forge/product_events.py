"""Forge product events (``avi:jira:created:issue``, ...): read, subscribe, deliver once.

``POST /forge/events`` (:class:`~django_atlassian_connect.forge.views.ForgeEventsView`)
verifies the FIT, records the invocation, then :func:`deliver` sends
``signals.forge_event``. A project subscribes to one event type::

    from django_atlassian_connect.forge.product_events import forge_event_receiver

    @forge_event_receiver("avi:jira:created:issue")
    def issue_created(sender, installation, event_type, payload, context, **kwargs):
        issue = payload["issue"]
        transaction.on_commit(lambda: sync_issue.delay(installation.pk, issue["id"]))

Forge waits 5 s for the answer and then delivers again (up to 4 more times,
60 s apart, with ``retryContext`` and a fresh FIT). So receivers run inline
but only enqueue slow work (Celery, after commit), and :func:`deliver` runs
them once per event (:mod:`.dedupe`): a retry of a delivered event is
acknowledged without running them; a retry that arrives while the first
delivery still runs is answered 409 (Forge comes back later). Receivers run
in one transaction: one that raises rolls back every receiver's writes, the
claim is released and the delivery is answered 500, so Forge's retry runs
them all again. Events of an installation whose ``preUninstall`` arrived are
acknowledged and not dispatched (its data is being deleted).

There is no delivery id: an event is known by its type, its installation and
its payload (``retryContext`` aside). Two events with the same payload within
:data:`DEDUPE_TTL` (the same user viewing an unchanged issue twice) count as
one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import transaction

from .. import signals
from ..exceptions import ConnectError
from . import dedupe
from .context import ForgeContext

if TYPE_CHECKING:
    from ..models import ForgeInstallation

__all__ = [
    "DEDUPE_TTL",
    "ForgeProductEvent",
    "deliver",
    "disconnect_receiver",
    "forge_event_receiver",
    "is_product_event",
    "parse_product_event",
    "subscribed_event_types",
]

logger = logging.getLogger("django_atlassian_connect")

#: A Forge event name: ``avi:`` then at least two ``:``-separated parts.
EVENT_TYPE = re.compile(r"avi(?::[A-Za-z0-9_.-]+){2,}")
MAX_EVENT_TYPE = 200
LIFECYCLE_PREFIX = "avi:forge:"
#: Seconds a delivered event is remembered: Forge's retries span about 5 minutes.
DEDUPE_TTL = 15 * 60
#: Receivers slower than this (s) are logged: Forge gives up waiting at 5 s.
SLOW_RECEIVERS = 3.0
_PREFIX = "atlassian_connect:forge_product_event:"

DELIVERED = "delivered"
DUPLICATE = "duplicate"
NOT_DISPATCHED = "not_dispatched"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ForgeProductEvent:
    """One product event, as read from a verified delivery.

    ``installation_id`` is the FIT's (the body names none). ``payload`` is the
    event object without ``retryContext``; ``retry_count`` is 0 on the first
    delivery.
    """

    event_type: str
    installation_id: str
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    retry_count: int = 0
    retry_reason: str | None = None

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0

    @property
    def atlassian_id(self) -> str | None:
        """The account that caused the event (``atlassianId``), when Forge names one."""
        value = self.payload.get("atlassianId")
        return value if isinstance(value, str) and value else None

    @property
    def dedupe_key(self) -> str:
        material = json.dumps(
            [self.event_type, self.installation_id, self.payload],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return _PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()


def is_product_event(data: dict[str, Any]) -> bool:
    """The body names an event type that is not one of Forge's own (``avi:forge:*``)."""
    event_type = data.get("eventType")
    return isinstance(event_type, str) and not event_type.startswith(LIFECYCLE_PREFIX)


def parse_product_event(data: dict[str, Any], context: ForgeContext) -> ForgeProductEvent:
    """The event of a verified delivery's body object (:func:`events.event_object`).

    ``ConnectError`` ``forge_event_type_missing`` / ``forge_event_type_invalid``
    (400) when ``eventType`` is absent or not a Forge event name.
    """
    event_type = data.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        raise ConnectError("forge_event_type_missing", installation_id=context.installation_id)
    if len(event_type) > MAX_EVENT_TYPE or not EVENT_TYPE.fullmatch(event_type):
        raise ConnectError(
            "forge_event_type_invalid",
            f"The event body's eventType {event_type[:80]!r} is not a Forge event name "
            "(avi:<product>:<verb>:<noun>). Nothing was stored.",
            installation_id=context.installation_id,
        )
    retry = data.get("retryContext")
    retry = retry if isinstance(retry, dict) else {}
    count = retry.get("retryCount")
    reason = retry.get("retryReason")
    return ForgeProductEvent(
        event_type=event_type,
        installation_id=context.installation_id,
        payload={k: v for k, v in data.items() if k != "retryContext"},
        retry_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        retry_reason=reason if isinstance(reason, str) and reason else None,
    )


def deliver(
    event: ForgeProductEvent, installation: ForgeInstallation, context: ForgeContext
) -> str:
    """Send ``forge_event`` once for ``event``: :data:`DELIVERED`, :data:`DUPLICATE` or
    :data:`NOT_DISPATCHED` (the installation was uninstalled).

    ``ConnectError`` ``forge_event_in_progress`` (409) while another delivery
    runs the receivers, ``forge_event_receiver_failed`` (500, chained to the
    receiver's exception) when one raised: its writes are rolled back and the
    event is not marked delivered.
    """
    if installation.uninstalled_at is not None:
        logger.info(
            "forge %s for uninstalled installation %s acknowledged, not dispatched",
            event.event_type,
            event.installation_id,
        )
        return NOT_DISPATCHED
    key = event.dedupe_key
    state = dedupe.claim(key)
    if state == dedupe.DUPLICATE:
        logger.info(
            "forge %s for %s already delivered: retry (retryCount %d) acknowledged",
            event.event_type,
            event.installation_id,
            event.retry_count,
        )
        return DUPLICATE
    if state == dedupe.IN_PROGRESS:
        raise ConnectError("forge_event_in_progress", installation_id=event.installation_id)
    started = time.monotonic()
    try:
        with transaction.atomic():
            signals.forge_event.send(
                sender=type(installation),
                installation=installation,
                event_type=event.event_type,
                payload=event.payload,
                context=context,
                event=event,
            )
    except Exception as exc:
        dedupe.release(key)
        logger.exception(
            "forge %s for %s: a receiver raised (%s); rolled back, Forge delivers it again",
            event.event_type,
            event.installation_id,
            type(exc).__name__,
            extra={"connect_code": "forge_event_receiver_failed"},
        )
        raise ConnectError(
            "forge_event_receiver_failed", installation_id=event.installation_id
        ) from exc
    dedupe.complete(key, DEDUPE_TTL)
    took = time.monotonic() - started
    if took > SLOW_RECEIVERS:
        logger.warning(
            "forge %s receivers took %.1f s (Forge waits 5 s): enqueue slow work on Celery",
            event.event_type,
            took,
        )
    return DELIVERED


# -- subscribing ------------------------------------------------------------------------------

#: receiver function -> the event types (fnmatch patterns) it subscribed to
_SUBSCRIBED: dict[Callable[..., Any], tuple[str, ...]] = {}
#: receiver function -> the dispatch_uids it was connected with
_UIDS: dict[Callable[..., Any], list[str]] = {}


def _check_pattern(pattern: str) -> str:
    if not isinstance(pattern, str) or not pattern.startswith("avi:"):
        raise ValueError(
            f"{pattern!r} is not a Forge event type: they start with 'avi:' "
            "(Connect's jira:issue_created is avi:jira:created:issue; see the "
            "Forge events guide for the mapping)."
        )
    return pattern


def forge_event_receiver(*event_types: str) -> Callable[[F], F]:
    """Connect the decorated function to ``forge_event`` for ``event_types`` only.

    Each is a Forge event name or an ``fnmatch`` pattern (``"avi:jira:*:issue"``).
    The function is called as a signal receiver (``sender``, ``installation``,
    ``event_type``, ``payload``, ``context``, ``event``) and returned unchanged.
    """
    if not event_types:
        raise ValueError("forge_event_receiver() needs at least one event type")
    patterns = tuple(_check_pattern(p) for p in event_types)

    def decorate(func: F) -> F:
        def receiver(sender: Any, event_type: str, **kwargs: Any) -> Any:
            if any(fnmatch.fnmatchcase(event_type, p) for p in patterns):
                return func(sender=sender, event_type=event_type, **kwargs)
            return None

        uid = f"{func.__module__}.{func.__qualname__}:{','.join(patterns)}"
        signals.forge_event.connect(receiver, weak=False, dispatch_uid=uid)
        _SUBSCRIBED[func] = _SUBSCRIBED.get(func, ()) + patterns
        _UIDS.setdefault(func, []).append(uid)
        return func

    return decorate


def disconnect_receiver(func: Callable[..., Any]) -> bool:
    """Undo :func:`forge_event_receiver` (tests); ``False`` if ``func`` was not subscribed."""
    uids = _UIDS.pop(func, [])
    _SUBSCRIBED.pop(func, None)
    return any([signals.forge_event.disconnect(dispatch_uid=uid) for uid in uids])


def subscribed_event_types() -> list[str]:
    """Every event type (or pattern) a :func:`forge_event_receiver` subscribed to, sorted."""
    return sorted({p for patterns in _SUBSCRIBED.values() for p in patterns})
