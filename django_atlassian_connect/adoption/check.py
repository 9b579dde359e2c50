"""``forge_manifest --check``: what a manifest.yml says that the settings and URLconf do not.

:func:`check_manifest` returns one :class:`Finding` per mismatch (an empty list:
the manifest matches). Each has a registered ``manifest_*`` code
(:mod:`django_atlassian_connect.codes.adoption`), the offending value and the fix;
the command prints ``<code>: <what> — <fix>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..codes import CODES
from ..conf import connect_settings
from ..connect.descriptor import build_descriptor
from ..forge import ids
from . import inputs, routes
from .manifest import expected_scopes, forge_modules, webhook_events
from .scopes import declared_scopes, is_connect_scope

_VARIABLE = re.compile(r"\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass(frozen=True)
class Finding:
    """One mismatch: a stable code, what is wrong (naming the value), and the fix."""

    code: str
    what: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered code {self.code!r}")
        if not self.fix:
            object.__setattr__(self, "fix", CODES[self.code].hint)

    def line(self) -> str:
        return f"{self.code}: {self.what} — {self.fix}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _check_app_id(app: Mapping[str, Any]) -> list[Finding]:
    configured = inputs.app_ids()
    value = app.get("id")
    try:
        normalised = ids.normalise_app_id(str(value)) if value else None
    except ValueError:
        normalised = None
    if normalised in configured:
        return []
    return [
        Finding(
            "manifest_app_id_mismatch",
            f"app.id is {value!r}, FORGE_APP_ID is {', '.join(configured)}",
        )
    ]


def _check_connect_key(manifest: Mapping[str, Any]) -> list[Finding]:
    key = _mapping(_mapping(manifest.get("app")).get("connect")).get("key")
    app_key = str(connect_settings.APP_KEY)
    if key == app_key:
        return []
    match = _VARIABLE.fullmatch(str(key or ""))
    if match:
        variables = _mapping(manifest.get("environment")).get("variables")
        # Declared as a name, or as {key, default} (Forge's two forms).
        names = {v.get("key") if isinstance(v, Mapping) else v for v in variables or []}
        if match.group(1) in names:
            return []
        return [
            Finding(
                "manifest_connect_key_mismatch",
                f"app.connect.key is {key!r} but {match.group(1)} is not declared under "
                "environment.variables",
                f"Declare it: environment: {{variables: [{{key: {match.group(1)}, "
                f"default: {app_key}}}]}}.",
            )
        ]
    return [
        Finding(
            "manifest_connect_key_mismatch", f"app.connect.key is {key!r}, APP_KEY is {app_key!r}"
        )
    ]


def _normalise_base_url(value: Any) -> Any:
    if isinstance(value, str):
        return value.rstrip("/")
    if isinstance(value, Mapping):
        return {str(k): str(v).rstrip("/") for k, v in value.items()}
    return value


def _check_remotes(manifest: Mapping[str, Any]) -> list[Finding]:
    found = []
    remotes = _list(manifest.get("remotes"))
    remote_key = _mapping(_mapping(manifest.get("app")).get("connect")).get("remote")
    remote_key = remote_key or inputs.remote_key()
    remote = next((r for r in remotes if r.get("key") == remote_key), None)
    expected = inputs.base_url()
    if remote is None:
        found.append(
            Finding(
                "manifest_base_url_mismatch",
                f"no remotes entry has the key {remote_key!r} (app.connect.remote); "
                f"expected baseUrl {expected!r}",
            )
        )
    elif _normalise_base_url(remote.get("baseUrl")) != expected:
        found.append(
            Finding(
                "manifest_base_url_mismatch",
                f"remote {remote_key!r} has baseUrl {remote.get('baseUrl')!r}, the settings say "
                f"{expected!r}",
            )
        )
    has_functions = bool(_mapping(manifest.get("modules")).get("function"))
    found.extend(
        Finding(
            "manifest_remote_auth",
            f"remote {r.get('key')!r} has auth {dict(_mapping(r.get('auth')))!r} and the manifest "
            "has no function module: the tokens would reach no invocation",
        )
        for r in remotes
        if r.get("auth") and not has_functions
    )
    return found


def _check_endpoints(
    manifest: Mapping[str, Any], expected_routes: Mapping[str, str]
) -> list[Finding]:
    found = []
    endpoints = _list(_mapping(manifest.get("modules")).get("endpoint"))
    declared_paths = set()
    for endpoint in endpoints:
        path = _mapping(endpoint.get("route")).get("path")
        if not isinstance(path, str):
            continue  # a UI endpoint: invokeRemote names the path
        declared_paths.add(path)
        view = routes.serves(path)
        if view is None:
            found.append(
                Finding(
                    "manifest_route_unrouted",
                    f"endpoint {endpoint.get('key')!r} has route.path {path!r}, which this app "
                    "does not serve (404)",
                )
            )
            continue
        route = routes.ROUTES_BY_NAME.get(view)
        enabled = _mapping(_mapping(endpoint.get("auth")).get("appSystemToken")).get("enabled")
        if route is not None and route.system_token and enabled is not True:
            found.append(
                Finding(
                    "manifest_auth_missing",
                    f"endpoint {endpoint.get('key')!r} ({path}) has no "
                    "auth.appSystemToken.enabled: true; its view needs the app system token",
                )
            )
    for name, path in expected_routes.items():
        if path not in declared_paths:
            found.append(
                Finding(
                    "manifest_route_missing",
                    f"{name} is routed at {path} but no endpoint has that route.path",
                )
            )
    return found


def _check_scopes(manifest: Mapping[str, Any], expected: list[str]) -> list[Finding]:
    declared = declared_scopes(_mapping(manifest.get("permissions")).get("scopes"))
    found = [
        Finding("manifest_scope_missing", f"permissions.scopes lacks {scope}")
        for scope in expected
        if scope not in declared
    ]
    found.extend(
        Finding(
            "manifest_scope_extra",
            f"permissions.scopes has {scope}, which the descriptor's scopes do not map to",
        )
        for scope in declared
        if is_connect_scope(scope) and scope not in expected
    )
    return found


def check_manifest(manifest: Mapping[str, Any], product: str | None = None) -> list[Finding]:
    """The mismatches between ``manifest`` and what settings and URLconf say, in a fixed order."""
    name = inputs.product(product, manifest)
    descriptor = build_descriptor()
    routed = routes.routed()
    events = webhook_events(descriptor, name, routed)
    remote = inputs.remote_key()
    modules = forge_modules(routed, events, remote)
    # The routes the generator would declare an endpoint for (the events one needs events).
    endpoint_paths = {
        e["key"]: e["route"]["path"] for e in modules.get("endpoint", []) if "route" in e
    }
    expected_routes = {
        route.name: endpoint_paths[route.endpoint_key]
        for route in routes.FORGE_ROUTES
        if route.endpoint_key in endpoint_paths
    }
    return [
        *_check_app_id(_mapping(manifest.get("app"))),
        *_check_connect_key(manifest),
        *_check_remotes(manifest),
        *_check_endpoints(manifest, expected_routes),
        *_check_scopes(manifest, expected_scopes(descriptor, name, events)),
    ]
