"""The simulated Forge platform: Atlassian's side of Forge Remote, end to end.

:class:`ForgePlatform` is the state of ``state.py`` (app, installations,
keys, JWKS server, gateway, tokens) plus what Forge sends the remote (the
Django app): UI invocations, lifecycle and product events with retries, the
hourly scheduled trigger, preUninstall on uninstall, and the data residency
(realm migration) hooks (``mint.py`` for the FITs, ``delivery.py`` for the rest).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import requests

from . import delivery
from .delivery import DeliveryAttempt
from .keys import ForgeSigningKey
from .mint import mint_fit
from .records import Installation
from .state import InstallationRef, PlatformState, Transport

UI_MODULE_KEY = "forge-app-panel"
LIFECYCLE_MODULE_KEY = "forge-lifecycle-trigger"
SCHEDULED_MODULE_KEY = "forge-token-refresh"
EVENTS_MODULE_KEY = "forge-product-events"
PRE_UNINSTALL_MODULE_KEY = "forge-pre-uninstall"
REALM_MODULE_KEY = "forge-realm-migration"

__all__ = ["ForgePlatform", "InstallationRef", "Transport"]


class ForgePlatform(PlatformState):
    """Forge toward one app: start it, add installations and accounts, invoke the remote.

    ::

        with ForgePlatform(remote_base_url=live_server.url) as forge:
            site = forge.add_installation("jira")
            user = forge.add_account("Alana Grant")
            forge.deliver_lifecycle("avi:forge:installed:app", site)
            response = forge.invoke("/forge/me", "GET", installation=site,
                                    account_id=user.account_id)

    Point the app at it with ``FORGE_APP_ID = forge.app_id``,
    ``FORGE_JWKS_URL = forge.jwks_url`` and ``FORGE_API_HOSTS = forge.api_hosts``.
    """

    def mint_fit(
        self,
        installation: InstallationRef = None,
        *,
        account_id: str | None = None,
        kind: str = "ui",
        module_key: str = UI_MODULE_KEY,
        key: ForgeSigningKey | None = None,
        **changes: Any,
    ) -> str:
        """A FIT for this app; ``changes`` go to :func:`mint.mint_fit` (overrides, drop, ...)."""
        args: dict[str, Any] = {
            "app_id": self.app_id,
            "installation": self.installation(installation),
            "environment": self.environment,
            "app_version": self.directory.app_version,
            "license": self.license,
            "kind": kind,
            "module_key": module_key,
            "principal": account_id,
        }
        args.update(changes)
        return mint_fit(key or self.keys.current, **args)

    def invocation_headers(
        self,
        installation: InstallationRef = None,
        *,
        account_id: str | None = None,
        kind: str = "ui",
        module_key: str = UI_MODULE_KEY,
        system_token: bool = True,
        user_token: bool = True,
        fit: str | None = None,
    ) -> dict[str, str]:
        """The headers Forge adds: FIT, B3 ids, and the bare OAuth tokens."""
        inst = self.installation(installation)
        fit = fit or self.mint_fit(inst, account_id=account_id, kind=kind, module_key=module_key)
        headers = {"Authorization": f"Bearer {fit}", **delivery.trace_headers()}
        if system_token:
            headers["x-forge-oauth-system"] = self.system_token(inst)
        # Only with a user in session: never on events and triggers (§2.1).
        if user_token and account_id is not None and kind == "ui":
            headers["x-forge-oauth-user"] = self.user_token(account_id, inst)
        return headers

    def invoke(
        self,
        path: str,
        method: str = "POST",
        body: Any = None,
        *,
        installation: InstallationRef = None,
        account_id: str | None = None,
        module_key: str = UI_MODULE_KEY,
        system_token: bool = True,
        user_token: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """A UI ``invokeRemote``: one request, no retries; the remote's response."""
        sent = self.invocation_headers(
            installation,
            account_id=account_id,
            module_key=module_key,
            system_token=system_token,
            user_token=user_token,
        )
        sent.update(headers or {})
        return self._send(method, path, body, sent, delivery.UI_TIMEOUT, "ui")

    def deliver_lifecycle(
        self,
        event: str = delivery.INSTALLED,
        installation: InstallationRef = None,
        *,
        path: str = "/forge/lifecycle",
        account_id: str | None = None,
        module_key: str = LIFECYCLE_MODULE_KEY,
        wrap_in_payload: bool = False,
        retries: int = 4,
        retry_delay: float = 0.0,
    ) -> list[DeliveryAttempt]:
        """POST a lifecycle event (§2.3), retried with ``retryContext`` until a 2xx."""
        inst = self.installation(installation)
        body = delivery.lifecycle_body(event, inst, self.directory, account_id)

        def send(sent: dict[str, Any]) -> Any:
            headers = self.invocation_headers(inst, kind="event", module_key=module_key)
            return self._send("POST", path, sent, headers, delivery.EVENT_TIMEOUT, "event")

        return delivery.deliver_with_retries(
            send, body, retries=retries, retry_delay=retry_delay, wrap_in_payload=wrap_in_payload
        )

    def deliver_event(
        self,
        event_type: str = delivery.ISSUE_CREATED,
        installation: InstallationRef = None,
        *,
        payload: dict[str, Any] | None = None,
        account_id: str | None = None,
        path: str = "/forge/events",
        module_key: str = EVENTS_MODULE_KEY,
        wrap_in_payload: bool = False,
        retries: int = 4,
        retry_delay: float = 0.0,
    ) -> list[DeliveryAttempt]:
        """POST a product event, retried with ``retryContext`` (and a fresh FIT) until a 2xx.

        ``payload`` is the event object (default :func:`delivery.product_event_body`,
        caused by ``account_id`` or the installer);
        no user token is sent (§2.1). Every attempt carries the same event.
        """
        inst = self._invoked(installation)
        body = dict(payload) if payload is not None else None
        if body is None:  # caused by the given user, by default the installer
            actor = account_id or inst.installer_account_id
            body = delivery.product_event_body(event_type, inst, actor)
        body.setdefault("eventType", event_type)

        def send(sent: dict[str, Any]) -> Any:
            headers = self.invocation_headers(inst, kind="event", module_key=module_key)
            return self._send("POST", path, sent, headers, delivery.EVENT_TIMEOUT, "event")

        return delivery.deliver_with_retries(
            send, body, retries=retries, retry_delay=retry_delay, wrap_in_payload=wrap_in_payload
        )

    def uninstall(
        self,
        installation: InstallationRef = None,
        *,
        path: str | None = "/forge/pre-uninstall",
        module_key: str = PRE_UNINSTALL_MODULE_KEY,
    ) -> DeliveryAttempt | None:
        """Uninstall the app from a site: preUninstall once (``path=None``: no
        preUninstall module), then the installation is gone whatever the answer."""
        inst = self._invoked(installation)
        attempt = None
        if path is not None:
            headers = self.invocation_headers(inst, kind="event", module_key=module_key)
            body = delivery.pre_uninstall_body(inst, module_key)
            # Non-blocking: a failure is recorded and ignored, as Forge does.
            attempt = delivery.deliver_once(
                lambda sent: self._send(
                    "POST", path, sent, headers, delivery.PRE_UNINSTALL_TIMEOUT, "preUninstall"
                ),
                body,
            )
        inst.uninstalled = True
        return attempt

    def reinstall(self, installation: InstallationRef = None) -> Installation:
        """Install the app again on an uninstalled installation's site: a new installation id."""
        return self.directory.reinstall(installation)

    def realm_hook(
        self,
        phase: str,
        migration_id: int,
        installation: InstallationRef = None,
        *,
        location: str = "EU",
        start: float | None = None,
        hours: float = 1.5,
        prefix: str = "/forge/realm-migration",
        module_key: str = REALM_MODULE_KEY,
        retries: int = delivery.REALM_RETRIES,
    ) -> list[DeliveryAttempt]:
        """One data residency hook (``schedule``, ``start``, ``status``, ``commit``,
        ``rollback``) as the migration service calls it, with its retries."""
        inst = self.installation(installation)
        body = delivery.realm_body(phase, migration_id, location, start or time.time(), hours)
        method, path = ("GET", f"{prefix}/status?migrationId={migration_id}")
        if phase != "status":
            method, path = "POST", f"{prefix}/{phase}"

        def send() -> Any:
            headers = self.invocation_headers(inst, kind="event", module_key=module_key)
            return self._send(method, path, body, headers, delivery.REALM_TIMEOUT, "realm")

        attempts = delivery.deliver_realm_hook(send, retries=retries)
        for attempt in attempts:
            attempt.body = body or {}
        return attempts

    def migrate_realm(
        self,
        installation: InstallationRef = None,
        *,
        location: str = "EU",
        migration_id: int | None = None,
        polls: int = 3,
        prefix: str = "/forge/realm-migration",
    ) -> list[tuple[str, list[DeliveryAttempt]]]:
        """A whole migration: schedule, start, status polled up to ``polls`` times, then
        commit when the app said ``ready-to-commit``, else rollback (also after a failed
        schedule or start). Returns ``(phase, attempts)`` in the order sent."""
        inst = self.installation(installation)
        number = migration_id if migration_id is not None else 50000 + secrets.randbelow(9999)
        log: list[tuple[str, list[DeliveryAttempt]]] = []

        def hook(phase: str) -> DeliveryAttempt:
            attempts = self.realm_hook(phase, number, inst, location=location, prefix=prefix)
            log.append((phase, attempts))
            return attempts[-1]

        ready = False
        if hook("schedule").ok and hook("start").ok:
            for _ in range(polls):
                answer = hook("status")
                status = _json(answer.response).get("status") if answer.ok else None
                if status in (delivery.READY_TO_COMMIT, "failed"):
                    ready = status == delivery.READY_TO_COMMIT
                    break
        hook("commit" if ready else "rollback")
        return log

    def trigger_scheduled(
        self,
        installation: InstallationRef = None,
        *,
        path: str = "/forge/scheduled",
        module_key: str = SCHEDULED_MODULE_KEY,
    ) -> Any:
        """The hourly scheduled trigger: system token, never a user token; the response."""
        inst = self.installation(installation)
        headers = self.invocation_headers(inst, kind="scheduled", module_key=module_key)
        body = delivery.scheduled_body(inst, module_key)
        return self._send("POST", path, body, headers, delivery.EVENT_TIMEOUT, "scheduled")

    def _invoked(self, installation: InstallationRef) -> Installation:
        inst = self.installation(installation)
        if inst.uninstalled:
            raise AssertionError(f"{inst.id} was uninstalled: Forge no longer invokes it")
        return inst

    def _send(
        self, method: str, path: str, body: Any, headers: dict[str, str], timeout: float, kind: str
    ) -> Any:
        url = self.remote_base_url.rstrip("/") + path
        self.sent.append({"method": method, "path": path, "kind": kind, "headers": sorted(headers)})
        if self.transport is not None:
            return self.transport(method, url, body, headers)
        payload: dict[str, Any] = {}
        if isinstance(body, bytes | str):
            payload["data"] = body
        elif body is not None:
            payload["json"] = body
        # Redirects are not followed: a 3xx is the remote's answer (and a failure).
        return requests.request(
            method, url, headers=headers, timeout=timeout, allow_redirects=False, **payload
        )


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, AttributeError):
        return {}
    return body if isinstance(body, dict) else {}
