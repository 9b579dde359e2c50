"""The app descriptor (``atlassian-connect.json``), built from settings.

Start from ``ATLASSIAN_CONNECT["DESCRIPTOR"]`` (a dict) or
``ATLASSIAN_CONNECT["DESCRIPTOR_FILE"]`` (JSON with ``{{base_url}}`` and
``{{app_key}}`` placeholders), then fill in what this app owns: ``key``,
``baseUrl``, JWT authentication, the lifecycle URLs it serves, ``scopes``,
and the ``signed-install`` and ``context-qsh`` API migrations (always on: they
are what makes installs unforgeable and context tokens distinguishable).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from ..conf import connect_settings

LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")


def normalise_scopes(scopes: Any) -> list[str]:
    """Upper-case, de-duplicated, in the given order."""
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple)):
        raise ImproperlyConfigured(
            'ATLASSIAN_CONNECT["SCOPES"] must be a list such as ["READ", "WRITE"].'
        )
    result: list[str] = []
    for scope in scopes:
        name = str(scope).strip().upper().replace("-", "_")
        if name and name not in result:
            result.append(name)
    return result


#: The scope an outbound call needs, by method (admin resources need ADMIN, see needed_scope).
SCOPE_FOR_METHOD = {
    "GET": "READ",
    "HEAD": "READ",
    "OPTIONS": "READ",
    "POST": "WRITE",
    "PUT": "WRITE",
    "PATCH": "WRITE",
    "DELETE": "DELETE",
}
# Connect scopes are hierarchical: each is granted by itself and by every scope above it.
_GRANTED_BY = {
    "READ": frozenset({"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN"}),
    "WRITE": frozenset({"WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN"}),
    "DELETE": frozenset({"DELETE", "PROJECT_ADMIN", "ADMIN"}),
    "ADMIN": frozenset({"ADMIN"}),
}
# Product paths that need the ADMIN scope.
_ADMIN_PATH = re.compile(r"/(permissions|admin|applicationrole|auditing|configuration)(/|$)")


class ScopeNeed(NamedTuple):
    """The scope a call needs, and whether the declared scopes grant it."""

    scope: str
    declared: bool


def needed_scope(method: str, path: str, scopes: Iterable[str]) -> ScopeNeed:
    """The scope ``method path`` needs and whether ``scopes`` (e.g. ``SCOPES``) grant it.

    ``needed_scope("GET", "/rest/api/3/myself", ["WRITE"])`` is ``("READ", True)``:
    WRITE, DELETE, PROJECT_ADMIN and ADMIN each include the scopes below them.
    """
    scope = "ADMIN" if _ADMIN_PATH.search(path) else SCOPE_FOR_METHOD.get(method.upper(), "READ")
    declared = {str(s).upper() for s in scopes}
    return ScopeNeed(scope, bool(declared & _GRANTED_BY[scope]))


def load_descriptor_template() -> dict[str, Any]:
    """The user's descriptor before this app fills in its part."""
    path = connect_settings.DESCRIPTOR_FILE
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfigured(
                f'ATLASSIAN_CONNECT["DESCRIPTOR_FILE"] {str(path)!r} cannot be read: {exc}.'
            ) from exc
        for name, value in (
            ("base_url", connect_settings.BASE_URL),
            ("app_key", connect_settings.APP_KEY),
        ):
            # json.dumps()[1:-1]: the value escaped for use inside a JSON string.
            text = text.replace("{{" + name + "}}", json.dumps(value)[1:-1])
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f'ATLASSIAN_CONNECT["DESCRIPTOR_FILE"] {str(path)!r} is not valid JSON: {exc}.'
            ) from exc
    else:
        data = copy.deepcopy(connect_settings.DESCRIPTOR or {})
    if not isinstance(data, dict):
        raise ImproperlyConfigured("The descriptor must be a JSON object.")
    return data


def lifecycle_path(event: str) -> str:
    """The path of a lifecycle callback relative to BASE_URL."""
    try:
        path = reverse(f"atlassian_connect:{event}")
    except NoReverseMatch as exc:
        raise ImproperlyConfigured(
            "The lifecycle URLs are not routed: add "
            'path("", include("django_atlassian_connect.urls")) to your URLconf.'
        ) from exc
    base_path = urlsplit(connect_settings.BASE_URL).path.rstrip("/")
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return path


def build_descriptor() -> dict[str, Any]:
    """The descriptor this app serves at ``/atlassian-connect.json``."""
    data = load_descriptor_template()
    data["key"] = connect_settings.APP_KEY
    data["baseUrl"] = connect_settings.BASE_URL
    data.setdefault("name", connect_settings.APP_NAME or connect_settings.APP_KEY)
    if connect_settings.APP_DESCRIPTION:
        data.setdefault("description", connect_settings.APP_DESCRIPTION)
    if connect_settings.VENDOR:
        data.setdefault("vendor", connect_settings.VENDOR)
    data["authentication"] = {"type": "jwt"}
    lifecycle = dict(data.get("lifecycle") or {})
    for event in LIFECYCLE_EVENTS:
        lifecycle[event] = lifecycle_path(event)
    data["lifecycle"] = lifecycle
    migrations = dict(data.get("apiMigrations") or {})
    migrations["signed-install"] = True
    migrations["context-qsh"] = True
    data["apiMigrations"] = migrations
    scopes = (
        data.get("scopes")
        if "SCOPES" not in _user_keys() and "scopes" in data
        else connect_settings.SCOPES
    )
    data["scopes"] = normalise_scopes(scopes)
    data.setdefault("modules", {})
    return data


def _user_keys() -> set[str]:
    return set(connect_settings.user_settings)


def template_app_key() -> str | None:
    """The ``key`` written in the user's descriptor template, if any."""
    value = load_descriptor_template().get("key")
    return value if isinstance(value, str) else None
