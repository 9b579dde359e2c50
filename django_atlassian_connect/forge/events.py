"""What a verified Forge invocation does next: record it, read its event, announce it once.

- :func:`admit`: store the invocation (``record_invocation``: the
  installation row, the system token) and send ``forge_invoked`` after commit.
  Every entry point calls it after ``verify_invocation`` and only then: a
  refusal writes nothing.
- :func:`parse_lifecycle`: the body of ``avi:forge:installed:app`` /
  ``avi:forge:upgraded:app`` (spec 2.3), top level or under ``payload``,
  checked against the FIT (the source of truth for the installation); a body
  without ``eventType`` (the payload Forge's events reference documents) is
  read as installed or upgraded from its shape (:func:`infer_lifecycle_type`).
- :func:`announce_once`: ``forge_installed`` / ``forge_upgraded`` once per
  event, however often Forge retries it.

Deduplication. Forge redelivers a failed event up to 4 more times, 60 s
apart, with a ``retryContext`` and a fresh FIT, and documents no delivery id.
The key is the event type, the installation ARI and the body's identifying
fields (:data:`IDENTIFYING_FIELDS`; ``retryContext`` is not one of them),
hashed. It is claimed with ``cache.add`` in ``FORGE_JWKS_CACHE_ALIAS`` for
:data:`DEDUPE_TTL` seconds, after the installation row is committed and
before the signal is sent; if a receiver raises, the claim is released so
Forge's retry (our answer is then a 500) sends the signal again. Use a cache
shared by all processes (Redis, Memcached) in production: with a
process-local cache, two workers may each send the signal once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import DatabaseError, transaction
from django.http import HttpRequest

from .. import signals
from ..conf import connect_settings
from ..exceptions import ForgeAuthError
from . import ids, replays
from .context import ForgeContext
from .installations import get_installation, record_invocation

if TYPE_CHECKING:
    from django.dispatch import Signal

    from ..models import ForgeInstallation

logger = logging.getLogger("django_atlassian_connect")

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"
#: The lifecycle events this package understands, and the signal each sends.
LIFECYCLE_SIGNALS: dict[str, Signal] = {
    INSTALLED: signals.forge_installed,
    UPGRADED: signals.forge_upgraded,
}
#: Seconds a delivered event is remembered. Forge's retries span about 5 minutes.
DEDUPE_TTL = 24 * 3600
_DEDUPE_PREFIX = "atlassian_connect:forge_event:"
#: The body fields that tell one lifecycle event from another (dotted: nested).
IDENTIFYING_FIELDS = (
    "eventType",
    "id",
    "context",
    "installerAccountId",
    "upgraderAccountId",
    "app.id",
    "app.version",
    "environment.id",
    "permissions",
)


class EventBodyError(ValueError):
    """The body of a lifecycle delivery is unusable (answered 400, nothing written).

    ``detail`` says why; ``context`` holds ids worth showing (never a token).
    """

    def __init__(self, detail: str, **context: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


@dataclass(frozen=True)
class ForgeLifecycleEvent:
    """One Forge lifecycle event, as read from the delivery's body.

    ``installation_id`` is the ARI (the body's bare uuid, normalised and
    checked against the FIT). ``account_id`` is the installer or the upgrader.
    ``retry_count`` is 0 on the first delivery. ``payload`` is the event
    object (without ``retryContext``), for fields this class does not name.
    """

    event_type: str
    installation_id: str
    site_ari: str | None = None
    account_id: str | None = None
    app_version: str | None = None
    environment_id: str | None = None
    permissions: dict[str, Any] | None = None
    retry_count: int = 0
    retry_reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def known(self) -> bool:
        """An event this package acts on (installed, upgraded)."""
        return self.event_type in LIFECYCLE_SIGNALS

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0

    @property
    def dedupe_key(self) -> str:
        """The cache key that makes the event's signal fire once (see the module docs)."""
        identifying = {name: _dotted(self.payload, name) for name in IDENTIFYING_FIELDS}
        material = json.dumps(
            [self.event_type, self.installation_id, identifying],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return _DEDUPE_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()


def _dotted(payload: dict[str, Any], name: str) -> Any:
    node: Any = payload
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def event_object(body: bytes) -> dict[str, Any]:
    """The event: the JSON object of the body, or its ``payload`` object if it has one.

    Forge's docs show both shapes (spec 2.3); which one is current is unverified.
    """
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EventBodyError(f"The event body is not JSON ({type(exc).__name__}).") from exc
    if not isinstance(data, dict):
        raise EventBodyError(f"The event body is JSON {type(data).__name__}, not an object.")
    payload = data.get("payload")
    if isinstance(payload, dict):
        data = payload
    return data


#: Fields only an upgrade carries (``previousApp``/``upgrade``: seen in other Forge payloads).
_UPGRADE_FIELDS = ("upgraderAccountId", "permissions", "previousApp", "upgrade")


def infer_lifecycle_type(data: dict[str, Any]) -> tuple[str, str] | None:
    """``(event type, why)`` of a body without ``eventType``; ``None``: not a lifecycle shape.

    Forge's events reference documents the installed and upgraded payloads
    without ``eventType`` (a function receives it apart). A body with an ``id``
    or an ``app`` object is one of them: upgraded when it carries a field only
    an upgrade has, else installed (recording an installation twice is harmless).
    """
    if not isinstance(data.get("id"), str) and not isinstance(data.get("app"), dict):
        return None
    for name in _UPGRADE_FIELDS:
        if name in data:
            return UPGRADED, f"its {name} field"
    if "installerAccountId" in data:
        return INSTALLED, "its installerAccountId field"
    return INSTALLED, "no field only an upgrade carries"


def parse_lifecycle(body: bytes, context: ForgeContext) -> ForgeLifecycleEvent:
    """The lifecycle event of a verified delivery, or :class:`EventBodyError`."""
    return lifecycle_event(event_object(body), context)


def lifecycle_event(data: dict[str, Any], context: ForgeContext) -> ForgeLifecycleEvent:
    """The lifecycle event of a body object (:func:`event_object`), or :class:`EventBodyError`.

    For installed and upgraded, the body's ``id`` (a bare uuid) must name the
    FIT's installation; other event types are read as they come. Without
    ``eventType`` the type is inferred from the shape (:func:`infer_lifecycle_type`).
    """
    event_type = data.get("eventType")
    if event_type is None:
        inferred = infer_lifecycle_type(data)
        if inferred is None:
            raise EventBodyError(
                "The lifecycle body has no eventType, nor the shape of a lifecycle event "
                "(an id or an app object) to infer it from."
            )
        event_type, why = inferred
        logger.info(
            "forge lifecycle body for %s has no eventType: read as %s from %s",
            context.installation_id,
            event_type,
            why,
        )
    if not isinstance(event_type, str) or not event_type:
        raise EventBodyError("The lifecycle body has no eventType.")
    installation_id = context.installation_id
    if event_type in LIFECYCLE_SIGNALS:
        installation_id = _checked_installation(data.get("id"), context)
    retry = _dict(data.get("retryContext"))
    count = retry.get("retryCount")
    app = _dict(data.get("app"))
    environment = _dict(data.get("environment"))
    permissions = data.get("permissions")
    actor = "upgraderAccountId" if event_type == UPGRADED else "installerAccountId"
    return ForgeLifecycleEvent(
        event_type=event_type[:200],
        installation_id=installation_id,
        site_ari=_str(data.get("context")),
        account_id=_str(data.get(actor)),
        app_version=_str(app.get("version")),
        environment_id=_str(environment.get("id")),
        permissions=permissions if isinstance(permissions, dict) else None,
        retry_count=count if isinstance(count, int) and count > 0 else 0,
        retry_reason=_str(retry.get("retryReason")),
        payload={k: v for k, v in data.items() if k != "retryContext"},
    )


def _checked_installation(value: Any, context: ForgeContext) -> str:
    """The body's ``id`` as an ARI, equal to the FIT's ``app.installationId``."""
    if value is None:
        # The FIT names the installation; a body without an id has nothing to contradict.
        return context.installation_id
    try:
        installation_id = ids.normalise_installation_id(str(value))
    except ValueError as exc:
        raise EventBodyError(
            f"The lifecycle body's id {str(value)[:80]!r} is not a Forge installation id.",
            installationId=context.installation_id,
        ) from exc
    if installation_id != context.installation_id:
        raise EventBodyError(
            f"The lifecycle body's id names installation {installation_id}, but the Forge "
            f"Invocation Token was issued for {context.installation_id}: the body belongs to "
            "another installation. Nothing was stored.",
            bodyInstallationId=installation_id,
            installationId=context.installation_id,
        )
    return installation_id


def admit(context: ForgeContext, request: HttpRequest | None = None) -> ForgeInstallation:
    """Record a verified invocation and send ``forge_invoked`` after commit.

    Only a FIT's first use (:mod:`.replays`, across processes) records
    anything: a replayed FIT is served for the installation it names, but
    changes no row and stores no token (its ``x-forge-oauth-system`` header is
    not signed), and sends no signal; ``token_replayed`` when that
    installation was never recorded. A database failure is
    ``database_unavailable`` (503: Forge retries events; the transaction
    rolled back, nothing changed), never a 500.
    """
    now = time.time()
    if not replays.claim_first_use(context, now=now):
        return _replayed(context)
    try:
        installation = record_invocation(context, now=now)
    except DatabaseError as exc:
        replays.release(context)
        logger.error(
            "forge invocation not recorded: database error (%s) installation=%s trace=%s",
            type(exc).__name__,
            context.installation_id,
            context.trace_id or "-",
        )
        raise ForgeAuthError(
            "database_unavailable",
            f"The database failed while recording the Forge invocation ({type(exc).__name__}); "
            "nothing was changed.",
            installation_id=context.installation_id,
        ) from exc
    transaction.on_commit(
        lambda: signals.forge_invoked.send(
            sender=type(installation), installation=installation, context=context, request=request
        )
    )
    return installation


def _replayed(context: ForgeContext) -> ForgeInstallation:
    """The installation a replayed FIT names, read only; ``token_replayed`` if unknown."""
    installation = get_installation(context.installation_id)
    logger.warning(
        "forge invocation with a jti seen before: installation=%s trace=%s; served, nothing stored",
        context.installation_id,
        context.trace_id or "-",
        extra={"connect_code": "token_replayed"},
    )
    if installation is None:
        raise ForgeAuthError(
            "token_replayed",
            "This Forge Invocation Token was already used, and its installation is not "
            "recorded here; nothing was stored.",
            installation_id=context.installation_id,
        )
    return installation


def announce_once(
    event: ForgeLifecycleEvent, installation: ForgeInstallation, context: ForgeContext
) -> None:
    """After commit: send the event's signal unless this event was announced before."""
    signal = LIFECYCLE_SIGNALS.get(event.event_type)
    if signal is None:
        return

    def send() -> None:
        cache = caches[connect_settings.FORGE_JWKS_CACHE_ALIAS]
        key = event.dedupe_key
        try:
            first = cache.add(key, event.retry_count, DEDUPE_TTL)
        except Exception as exc:
            # The event is stored and committed: announcing it twice (a retry, later)
            # beats answering 503 for work that is done, or never announcing it.
            logger.warning(
                "forge %s for %s: dedupe cache unavailable (%s), announced without it",
                event.event_type,
                event.installation_id,
                type(exc).__name__,
            )
            first = True
        if not first:
            logger.info(
                "forge %s for %s already announced: delivery (retryCount %d) not sent again",
                event.event_type,
                event.installation_id,
                event.retry_count,
            )
            return
        try:
            signal.send(
                sender=type(installation), installation=installation, context=context, event=event
            )
        except Exception:
            # Not announced after all: Forge's retry of this delivery sends it again.
            with contextlib.suppress(Exception):  # an unreachable cache forgets nothing
                cache.delete(key)
            raise

    transaction.on_commit(send)
