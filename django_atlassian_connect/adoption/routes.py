"""The Forge endpoints this app serves, read from the URLconf (never hard-coded paths).

Each Forge view of ``django_atlassian_connect.forge.urls`` is named; a view is in
the manifest only when its name reverses (the project includes the URLs, and
optionally only some of them). The path Forge calls is ``baseUrl + route.path``,
so ``route.path`` is the reversed path without the path part of ``BASE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from ..conf import connect_settings


@dataclass(frozen=True)
class ForgeRoute:
    """One Forge view: its URL name, the manifest keys for it, and the token it needs."""

    name: str
    endpoint_key: str
    module_key: str
    #: Its view uses the app system token, so the endpoint asks Forge for it
    #: (``auth.appSystemToken.enabled``; spec 5: on the endpoint, not on the remote).
    system_token: bool


#: Every Forge view the package serves, in manifest order.
FORGE_ROUTES: tuple[ForgeRoute, ...] = (
    # Lifecycle events: the system token is stored with the installation.
    ForgeRoute(
        "atlassian_connect_forge:lifecycle", "forge-lifecycle", "forge-lifecycle-trigger", True
    ),
    # The hourly trigger exists to bring a fresh system token.
    ForgeRoute("atlassian_connect_forge:scheduled", "forge-scheduled", "forge-token-refresh", True),
    # Product events: receivers call the product as the app.
    ForgeRoute("atlassian_connect_forge:events", "forge-events", "forge-product-events", True),
    # The installation goes away: no product call for it afterwards, no token needed.
    ForgeRoute(
        "atlassian_connect_forge:pre_uninstall",
        "forge-pre-uninstall",
        "forge-pre-uninstall-trigger",
        False,
    ),
)
ROUTES_BY_NAME = {route.name: route for route in FORGE_ROUTES}


def _base_path() -> str:
    return urlsplit(connect_settings.BASE_URL).path.rstrip("/")


def route_path(name: str, **kwargs: str) -> str | None:
    """The ``route.path`` of a URL name relative to ``BASE_URL``; ``None`` when not routed."""
    try:
        path = reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None
    base = _base_path()
    if base and path.startswith(base + "/"):
        path = path[len(base) :]
    return path


#: The realm-migration view: one URL per phase (``.../schedule``, ``.../start``, ...).
REALM_MIGRATION_ROUTE = "atlassian_connect_forge:realm_migration"


def realm_migration_path() -> str | None:
    """The ``migration:dataResidency`` hook path (the phases below it); ``None`` when not routed."""
    path = route_path(REALM_MIGRATION_ROUTE, phase="schedule")
    return path.removesuffix("/schedule") if path is not None else None


def routed() -> dict[str, str]:
    """``URL name -> route.path`` of the Forge views the URLconf serves, in manifest order."""
    found = {}
    for route in FORGE_ROUTES:
        path = route_path(route.name)
        if path is not None:
            found[route.name] = path
    return found


def serves(route: str) -> str | None:
    """The URL name (or ``""`` for an unnamed view) serving ``BASE_URL + route``; ``None``: 404."""
    path = "/" + route.lstrip("/")
    # With BASE_URL's path in the URLconf first; then as is (a FORCE_SCRIPT_NAME prefix).
    for candidate in dict.fromkeys((_base_path() + path, path)):
        try:
            return resolve(candidate).view_name or ""
        except Resolver404:
            continue
    return None
