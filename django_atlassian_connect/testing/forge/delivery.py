"""What the platform sends the remote besides the FIT: trace headers, event
bodies, and the retry loops (spec §2.1-§2.3).

An event (lifecycle or product) that fails (non-2xx, a timeout, a network
error) is delivered again up to ``retries`` times, each time with a fresh FIT
and a ``retryContext`` saying why the previous attempt failed. preUninstall
is sent once. A realm-migration hook is retried twice on a non-2xx answer,
unless the answer carries an ``errorResponseCode``.
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


# -- product events, preUninstall, realm migration hooks ---------------------------------------

ISSUE_CREATED = "avi:jira:created:issue"
PRE_UNINSTALL_TIMEOUT = 55.0  # preUninstall: 55 s, one attempt, failures ignored
#: The realm-migration hooks' timeout is not documented; this one is a guess.
REALM_TIMEOUT = 25.0
REALM_RETRIES = 2  # "retried up to 2 times after the initial call", 5 s apart
READY_TO_COMMIT = "ready-to-commit"


def product_event_body(
    event_type: str,
    installation: Installation,
    account_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A product event as Forge's events reference documents it: ``eventType``, the
    user who caused it (``atlassianId``) and its object; issue events get an issue."""
    body: dict[str, Any] = {"eventType": event_type}
    if account_id is not None:
        body["atlassianId"] = account_id
    if event_type.endswith(":issue") and "issue" not in fields:
        number = secrets.randbelow(9000) + 1000
        body["issue"] = {
            "id": str(10000 + number),
            "key": f"EX-{number}",
            "fields": {
                "summary": "A simulated issue",
                "issuetype": {"id": "10001", "name": "Story"},
                "project": {"id": "10000", "key": "EX"},
                "created": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
            },
        }
        if account_id is not None:
            body["associatedUsers"] = [{"accountId": account_id}]
    body.update(fields)
    return body


def pre_uninstall_body(installation: Installation, module_key: str) -> dict[str, Any]:
    """As a preUninstall function receives it; ``contextToken`` means nothing to an app."""
    return {
        "context": {"cloudId": installation.cloud_id, "moduleKey": module_key},
        "contextToken": "simulated." + secrets.token_urlsafe(24),
    }


def realm_body(
    phase: str,
    migration_id: int,
    location: str,
    start: float,
    hours: float,
) -> dict[str, Any] | None:
    """The body of a realm-migration hook (``status`` has none: its id is in the query)."""
    if phase == "status":
        return None
    if phase in ("commit", "rollback"):
        return {"migrationId": migration_id}

    def iso(moment: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(moment))

    return {
        "startTime": iso(start),
        "endTime": iso(start + hours * 3600),
        "location": location,
        "migrationId": migration_id,
    }


def error_response_code(response: Any) -> str | None:
    """The ``errorResponseCode`` of a remote's answer: it stops the migration's retries."""
    try:
        body = response.json()
    except (ValueError, AttributeError):
        return None
    code = body.get("errorResponseCode") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def deliver_once(send: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> DeliveryAttempt:
    """One attempt, no retry (preUninstall): its outcome, failures included."""
    response, reason, error = _outcome(send, body)
    status = None if response is None else response.status_code
    return DeliveryAttempt(0, body, status, reason, error, response)


def deliver_realm_hook(
    send: Callable[[], Any], *, retries: int = REALM_RETRIES, retry_delay: float = 0.0
) -> list[DeliveryAttempt]:
    """One hook, retried on a non-2xx answer without ``errorResponseCode`` (not on one with it).

    The real service pauses 5 s between attempts; ``retry_delay`` defaults to none.
    """
    attempts: list[DeliveryAttempt] = []
    for number in range(retries + 1):
        response, reason, error = _outcome(lambda body: send(), {})
        status = None if response is None else response.status_code
        attempts.append(DeliveryAttempt(number, {}, status, reason, error, response))
        if reason is None or (response is not None and error_response_code(response)):
            break
        if retry_delay and number < retries:
            time.sleep(retry_delay)
    return attempts
