"""Helpers of the Forge view tests: signal recording, row snapshots, lifecycle deliveries."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from django_atlassian_connect import signals
from django_atlassian_connect.models import ForgeInstallation
from django_atlassian_connect.testing.forge.delivery import lifecycle_body
from tests.conftest import assert_refused

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"


class Received:
    """Every send of some signals, as ``(signal name, kwargs)``."""

    def __init__(self, *names: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._receivers = []
        for name in names:

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                self.calls.append((_name, {"sender": sender, **kwargs}))

            getattr(signals, name).connect(receiver, weak=False)
            self._receivers.append((name, receiver))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, kwargs in self.calls if n == name]

    def disconnect(self) -> None:
        for name, receiver in self._receivers:
            getattr(signals, name).disconnect(receiver)


def snapshot() -> list[tuple[Any, ...]]:
    """Every Forge installation row with its token state: proves a refusal wrote nothing."""
    return sorted(
        (
            row.installation_id,
            str(row.last_seen_at),
            row.system_token_fingerprint,
            str(row.system_token_expires_at),
        )
        for row in ForgeInstallation.objects.all()
    )


def event_headers(forge_host, *, fit: str | None = None, module_key="forge-lifecycle-trigger"):
    headers = forge_host.invocation_headers(kind="event", module_key=module_key, fit=fit)
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}


def post_event(client: Client, forge_host, body: Any, **kwargs: Any):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        "/forge/lifecycle",
        data,
        content_type="application/json",
        **event_headers(forge_host, **kwargs),
    )


def installed_body(forge_host, event: str = INSTALLED, **changes: Any) -> dict[str, Any]:
    body = lifecycle_body(event, forge_host.installation(), forge_host.directory)
    body.update(changes)
    return body


def assert_bearer_refusal(response, code: str, status: int = 401) -> dict[str, Any]:
    return assert_refused(response, code, status, scheme="Bearer")
