"""The Forge ``manifest.yml`` of this Connect app, as a mapping (Connect-on-Forge, spec 1.2, 5).

``build_manifest("jira")`` reads the descriptor the app serves, the settings and
the URLconf, and returns the manifest with its keys in a fixed order, plus the notes
the command prints on stderr. Nothing is written here (see :mod:`.yaml_output`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import connect_settings
from ..connect.descriptor import build_descriptor
from . import inputs, routes
from .events import ProductEvents, product_events
from .modules import connect_modules
from .scopes import (
    SYSTEM_TOKEN_SCOPE,
    USER_TOKEN_SCOPE,
    declare,
    forge_connect_scopes,
    oauth_scopes,
)

#: ``remotes[].operations``: Forge may send data there to be stored (storage) and
#: processed (compute; required for invokeRemote).
OPERATIONS = ("storage", "compute")
#: The Forge events the lifecycle endpoint takes.
LIFECYCLE_EVENTS = ("avi:forge:installed:app", "avi:forge:upgraded:app")
#: The scheduled trigger's interval: often enough to keep a system token fresh.
SCHEDULE_INTERVAL = "hour"
#: The URL name of the product events view.
EVENTS_ROUTE = "atlassian_connect_forge:events"


@dataclass
class Manifest:
    """The manifest (``data``) and what the command says about it on stderr (``notes``)."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    product: str = "jira"


def _app(app_id: str, key: str, remote: str, licensing: bool) -> dict[str, Any]:
    app: dict[str, Any] = {
        "id": app_id,
        "runtime": {"name": inputs.runtime()},
        "connect": {"key": key, "remote": remote, "authentication": "jwt"},
    }
    if licensing:
        app["licensing"] = {"enabled": True}
    return app


def _remote(remote: str) -> dict[str, Any]:
    return {
        "key": remote,
        "baseUrl": inputs.base_url(),
        "operations": list(OPERATIONS),
        "storage": {"inScopeEUD": bool(connect_settings.FORGE_STORAGE_IN_SCOPE_EUD)},
    }


#: The key of the ``migration:dataResidency`` module (the realm-migration hooks).
REALM_MIGRATION_KEY = "forge-data-residency"


def _endpoint(route: routes.ForgeRoute, path: str, remote: str) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "key": route.endpoint_key,
        "remote": remote,
        "route": {"path": path},
    }
    if route.system_token:
        endpoint["auth"] = {"appSystemToken": {"enabled": True}}
    return endpoint


def forge_modules(
    routed: Mapping[str, str], events: ProductEvents, remote: str
) -> dict[str, list[dict[str, Any]]]:
    """``modules``: one endpoint per routed Forge view, and the module that calls it.

    The events endpoint is left out when no webhook maps to a Forge event (an endpoint
    nothing calls is not a module Forge counts).
    """
    modules: dict[str, list[dict[str, Any]]] = {}

    def add(kind: str, item: dict[str, Any]) -> None:
        modules.setdefault(kind, []).append(item)

    for route in routes.FORGE_ROUTES:
        path = routed.get(route.name)
        if path is None or (route.name.endswith(":events") and not events.events):
            continue
        add("endpoint", _endpoint(route, path, remote))
    for route in routes.FORGE_ROUTES:
        if route.name not in routed:
            continue
        call = {"key": route.module_key, "endpoint": route.endpoint_key}
        if route.name.endswith(":lifecycle"):
            add("trigger", {**call, "events": list(LIFECYCLE_EVENTS)})
        elif route.name.endswith(":scheduled"):
            add("scheduledTrigger", {**call, "interval": SCHEDULE_INTERVAL})
        elif route.name.endswith(":events") and events.events:
            add("trigger", {**call, "events": list(events.events)})
        elif route.name.endswith(":pre_uninstall"):
            add("preUninstall", call)
    realm = routes.realm_migration_path()
    if realm is not None:
        # Data residency: Forge calls <baseUrl><path>/<phase> (schedule, start, status, ...).
        add(
            "migration:dataResidency", {"key": REALM_MIGRATION_KEY, "remote": remote, "path": realm}
        )
    return modules


def expected_scopes(
    descriptor: Mapping[str, Any], product: str, events: ProductEvents
) -> list[str]:
    """The scopes of ``permissions.scopes``, in order, without duplicates."""
    tokens = inputs.tokens()
    scopes = forge_connect_scopes(product, descriptor.get("scopes") or [])
    scopes.append(SYSTEM_TOKEN_SCOPE)
    if tokens.user_tokens:
        scopes.append(USER_TOKEN_SCOPE)
    scopes.extend(oauth_scopes(tokens.oauth_scopes))
    scopes.extend(events.scopes)
    return list(dict.fromkeys(scopes))


def webhook_events(
    descriptor: Mapping[str, Any], product: str, routed: Mapping[str, str]
) -> ProductEvents:
    """The Forge product events of the descriptor's webhooks; none when no view takes them."""
    if EVENTS_ROUTE not in routed:
        return ProductEvents()
    webhooks = (descriptor.get("modules") or {}).get("webhooks") or []
    if isinstance(webhooks, Mapping):
        webhooks = [webhooks]
    return product_events(product, [w for w in webhooks if isinstance(w, Mapping)])


def build_manifest(
    product: str | None = None, *, connect_key_variable: str | None = None
) -> Manifest:
    """The manifest for ``product`` (``--product``, else ``FORGE_PRODUCT``).

    ``connect_key_variable="CONNECT_KEY"`` writes ``app.connect.key: ${CONNECT_KEY}``
    and declares the variable with ``APP_KEY`` as its default, so each environment
    can set its own key. Raises :class:`~.errors.AdoptionError` (nothing is returned
    half-built).
    """
    name = inputs.product(product)
    app_id = inputs.app_id()
    variable = inputs.connect_key_variable(connect_key_variable)
    remote = inputs.remote_key()
    descriptor = build_descriptor()
    notes: list[str] = []
    if app_id.listed > 1:
        notes.append(
            f'ATLASSIAN_CONNECT["FORGE_APP_ID"] lists {app_id.listed} app ids: the manifest\'s '
            f"app.id is the first, {app_id.value}."
        )
    routed = routes.routed()
    events = webhook_events(descriptor, name, routed)
    modules = forge_modules(routed, events, remote)
    reserved = [item["key"] for items in modules.values() for item in items]
    app_key = str(connect_settings.APP_KEY)
    data: dict[str, Any] = {
        "app": _app(
            app_id.value,
            f"${{{variable}}}" if variable else app_key,
            remote,
            bool(descriptor.get("enableLicensing")),
        )
    }
    if variable:
        data["environment"] = {"variables": [{"key": variable, "default": app_key}]}
    data["remotes"] = [_remote(remote)]
    if modules:
        data["modules"] = modules
    data["connectModules"] = connect_modules(descriptor, name, reserved_keys=reserved)
    scopes = expected_scopes(descriptor, name, events)
    data["permissions"] = {
        "scopes": declare(scopes, impersonation=inputs.tokens().offline_impersonation)
    }
    if EVENTS_ROUTE in routed:
        notes.extend(
            f"{name} webhook {event!r} stays a Connect webhook: Forge has no product event "
            "of the same meaning."
            for event in events.unmapped
        )
        notes.extend(f"{name} webhook {event!r}: {note}." for event, note in events.notes)
    return Manifest(data, notes, name)
