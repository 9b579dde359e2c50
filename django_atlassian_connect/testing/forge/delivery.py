"""What the platform sends the remote besides the FIT: trace headers, event
bodies, and the retry loop of events (spec §2.1-§2.3).

An event that fails (non-2xx, a timeout, a network error) is delivered again
up to ``retries`` times, each time with a fresh FIT and a ``retryContext``
saying why the previous attempt failed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .records import Directory, Installation

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"
EVENT_TIMEOUT = 5.0  # seconds the platform waits for an event or trigger endpoint
UI_TIMEOUT = 25.0  # ... and for a UI invokeRemote

INVALID_REMOTE_INVOCATION_ERROR = "INVALID_REMOTE_INVOCATION_ERROR"
TIMEOUT_ERROR = "TIMEOUT_ERROR"
INVALID_FORGE_INVOCATION_TOKEN = "INVALID_FORGE_INVOCATION_TOKEN"


def trace_headers() -> dict[str, str]:
    """Zipkin B3 ids: a 128-bit trace id and a 64-bit span id, in hex."""
    return {"x-b3-traceid": secrets.token_hex(16), "x-b3-spanid": secrets.token_hex(8)}


def lifecycle_body(
    event: str,
    installation: Installation,
    directory: Directory,
    account_id: str | None = None,
    permissions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A lifecycle event as delivered to a remote: bare uuids for ``id`` and ``app.id``."""
    actor = account_id or installation.installer_account_id or directory.owner_account_id
    body: dict[str, Any] = {
        "id": installation.uuid,
        "eventType": event,
        "context": installation.site_ari,
        ("upgraderAccountId" if event == UPGRADED else "installerAccountId"): actor,
        "app": {
            "id": directory.app_uuid,
            "name": directory.app_name,
            "ownerAccountId": directory.owner_account_id,
            "version": directory.app_version,
        },
        "environment": {"id": directory.environment.uuid},
    }
    if event == UPGRADED and permissions is not None:
        body["permissions"] = permissions
    return body


def scheduled_body(installation: Installation, module_key: str) -> dict[str, Any]:
    return {"context": {"cloudId": installation.cloud_id, "moduleKey": module_key}}


@dataclass
class DeliveryAttempt:
    """One delivery of an event: what was sent and how the remote answered.

    ``status`` is None when no answer came (timeout, refused connection);
    ``failure`` is the ``retryReason`` this attempt gives the next one, None
    on success.
    """

    number: int  # 0 is the first delivery, n the n-th retry
    body: dict[str, Any]
    status: int | None
    failure: str | None
    error: str | None = None
    response: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.failure is None


def _outcome(
    send: Callable[[dict[str, Any]], Any], body: dict[str, Any]
) -> tuple[Any, str | None, str | None]:
    """Send once: (response, failure reason, error text)."""
    try:
        response = send(body)
    except requests.Timeout as exc:
        return None, TIMEOUT_ERROR, f"no answer in time: {exc}"
    except requests.RequestException as exc:
        return None, INVALID_REMOTE_INVOCATION_ERROR, f"{type(exc).__name__}: {exc}"
    status = response.status_code
    if 200 <= status < 300:
        return response, None, None
    # A 3xx is a failure too: the platform follows no redirects.
    reason = INVALID_FORGE_INVOCATION_TOKEN if status == 401 else INVALID_REMOTE_INVOCATION_ERROR
    return response, reason, None


def deliver_with_retries(
    send: Callable[[dict[str, Any]], Any],
    body: dict[str, Any],
    *,
    retries: int = 4,
    retry_delay: float = 0.0,
    wrap_in_payload: bool = False,
) -> list[DeliveryAttempt]:
    """Deliver ``body`` through ``send`` (which attaches a fresh FIT each time).

    The real platform waits 60 s between attempts; ``retry_delay`` defaults to
    none so a test runs in milliseconds.
    """
    attempts: list[DeliveryAttempt] = []
    reason: str | None = None
    for number in range(retries + 1):
        sent = dict(body)
        if number:
            sent["retryContext"] = {"retryData": None, "retryCount": number, "retryReason": reason}
        if wrap_in_payload:
            sent = {"payload": sent}
        response, reason, error = _outcome(send, sent)
        status = None if response is None else response.status_code
        attempts.append(DeliveryAttempt(number, sent, status, reason, error, response))
        if reason is None:
            break
        if retry_delay and number < retries:
            time.sleep(retry_delay)
    return attempts
