"""System checks: ``atlassian_connect.E00x`` cannot work, ``W00x`` is risky."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from . import crypto
from .conf import SETTING_NAME, connect_settings
from .http.targets import LOOPBACK_HOSTS

#: The line that routes /atlassian-connect.json and the lifecycle callbacks.
INCLUDE_LINE = 'path("", include("django_atlassian_connect.urls"))'
#: The URL names ``django_atlassian_connect.urls`` defines (namespace ``atlassian_connect``).
CONNECT_URL_NAMES = ("descriptor", "installed", "uninstalled", "enabled", "disabled")


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    messages: list[Any] = []
    try:
        user = connect_settings.user_settings
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="atlassian_connect.E001")]
    if not user.get("APP_KEY"):
        messages.append(
            Error(
                f"settings.{SETTING_NAME}['APP_KEY'] is not set.",
                hint='Set it to your app key, e.g. "com.example.myapp"; it must equal '
                "the key in your descriptor.",
                id="atlassian_connect.E001",
            )
        )
    base_url = user.get("BASE_URL")
    if not base_url:
        messages.append(
            Error(
                f"settings.{SETTING_NAME}['BASE_URL'] is not set.",
                hint='Set it to the public URL of your app, e.g. "https://myapp.example.com".',
                id="atlassian_connect.E002",
            )
        )
    else:
        try:
            parts = urlsplit(str(base_url))
        except ValueError:  # e.g. "https://[bad"
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            messages.append(
                Error(
                    f"BASE_URL {base_url!r} is not an absolute http(s) URL.",
                    hint='Use the public URL of your app, e.g. "https://myapp.example.com".',
                    id="atlassian_connect.E002",
                )
            )
        elif parts.scheme != "https" and not settings.DEBUG:
            loopback = parts.hostname in LOOPBACK_HOSTS
            messages.append(
                Warning(
                    f"BASE_URL {base_url!r} is not https.",
                    hint="Atlassian Cloud installs apps over https only; "
                    + (
                        "fine for local testing on a loopback address."
                        if loopback
                        else "serve the app over https (a tunnel in development)."
                    ),
                    id="atlassian_connect.W001",
                )
            )
    messages.extend(_check_descriptor(user))
    messages.extend(_check_encryption())
    return messages


def _check_descriptor(user: dict[str, Any]) -> list[Any]:
    from .connect.descriptor import normalise_scopes, template_app_key

    if not user.get("APP_KEY"):
        return []
    try:
        key = template_app_key()
        normalise_scopes(connect_settings.SCOPES)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="atlassian_connect.E003")]
    if key is not None and key != user["APP_KEY"]:
        return [
            Error(
                f"The descriptor's key {key!r} is not APP_KEY {user['APP_KEY']!r}.",
                hint="The product sends the descriptor's key in every callback; "
                "make both the same (or use {{app_key}} in DESCRIPTOR_FILE).",
                id="atlassian_connect.E003",
            )
        ]
    return []


def _check_encryption() -> list[Any]:
    try:
        crypto.encrypt("check")
        crypto.configured_key_material()
    except (ImproperlyConfigured, ValueError, TypeError) as exc:
        return [
            Error(
                "The encryption keys for shared secrets, "
                f"{crypto.key_origin()}, are unusable: {exc}",
                hint=f'Set {SETTING_NAME}["ENCRYPTION_KEYS"] to a list of Fernet keys '
                "(cryptography.fernet.Fernet.generate_key()) or passphrases; unset, a key "
                "is derived from SECRET_KEY, which must then be set.",
                id="atlassian_connect.E004",
            )
        ]
    return []


def root_urlconf_name() -> str:
    """The dotted name of ``ROOT_URLCONF`` (it may be set to a module object)."""
    urlconf = getattr(settings, "ROOT_URLCONF", None)
    if isinstance(urlconf, str):
        return urlconf
    return str(getattr(urlconf, "__name__", urlconf))


def include_hint() -> str:
    """The exact line to add, and where: the ROOT_URLCONF module and its file."""
    name = root_urlconf_name()
    module = sys.modules.get(name)
    if module is None:
        try:
            module = import_module(name)
        except ImportError:
            module = None
    file = getattr(module, "__file__", None)
    where = f"{name} ({file})" if file else name
    return (
        f"Add {INCLUDE_LINE} to urlpatterns in {where}, with "
        "'from django.urls import include, path'."
    )


def unrouted_connect_urls() -> list[str]:
    """The URL names of ``django_atlassian_connect.urls`` the ROOT_URLCONF does not route."""
    missing = []
    for name in CONNECT_URL_NAMES:
        try:
            reverse(f"atlassian_connect:{name}")
        except NoReverseMatch:
            missing.append(name)
    return missing


@register(Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``atlassian_connect.E005``: the app's URLs are not included in the ROOT_URLCONF."""
    try:
        missing = unrouted_connect_urls()
    except (ImportError, ImproperlyConfigured):
        return []  # a URLconf that does not import: Django's own URL checks say so
    if not missing:
        return []
    return [
        Error(
            f"The ROOT_URLCONF {root_urlconf_name()!r} does not include "
            "django_atlassian_connect.urls: the descriptor and the lifecycle callbacks ("
            + ", ".join(missing)
            + ") are not routed, so the app can be neither installed nor described.",
            hint=include_hint(),
            id="atlassian_connect.E005",
        )
    ]


def _is_insecure_secret_key(value: Any) -> bool:
    """Django's own test (security.W009): generated for development, short or repetitive."""
    text = str(value or "")
    return text.startswith("django-insecure") or len(text) < 50 or len(set(text)) < 5


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``manage.py check --deploy``: the tenant cache and the encryption key."""
    messages: list[Any] = []
    try:
        alias = connect_settings.TENANT_CACHE_ALIAS
        encryption_keys = connect_settings.ENCRYPTION_KEYS
    except ImproperlyConfigured:
        return []  # check_settings reports it
    backend = (settings.CACHES.get(alias) or {}).get("BACKEND", "") if alias else ""
    if backend.endswith((".LocMemCache", ".DummyCache")):
        messages.append(
            Warning(
                f"The tenant cache {alias!r} is process-local ({backend.rsplit('.', 1)[-1]}): "
                "with several worker processes, an uninstall, a disable or a rotated secret "
                "reaches the other processes only after TENANT_CACHE_REVALIDATE seconds "
                f"({connect_settings.TENANT_CACHE_REVALIDATE:g}), at one database query per "
                "tenant per interval in each process.",
                hint=f'Point {SETTING_NAME}["TENANT_CACHE_ALIAS"] at a cache shared by every '
                "process (Redis or Memcached in CACHES), so changes apply everywhere at once.",
                id="atlassian_connect.W002",
            )
        )
    if not encryption_keys and _is_insecure_secret_key(getattr(settings, "SECRET_KEY", "")):
        messages.append(
            Error(
                "Shared secrets are encrypted with a key derived from SECRET_KEY, and "
                "SECRET_KEY is a development key (django-insecure-..., short or repetitive): "
                "whoever knows it can decrypt every tenant's shared secret from a backup.",
                hint=f'Set {SETTING_NAME}["ENCRYPTION_KEYS"] = [<new Fernet key>, <current '
                "SECRET_KEY>] (the old key still decrypts), then run 'manage.py "
                "connect_reencrypt'; see the secrets guide.",
                id="atlassian_connect.E006",
            )
        )
    return messages


# -- Forge Remote ------------------------------------------------------------------------------

#: The command that lists tenants with their Forge installations (W003's hint).
FORGE_TENANTS_COMMAND = "manage.py connect_tenants --forge"
#: Atlassian's end of support for Connect (Forge changelog CHANGE-3383).
CONNECT_END_OF_SUPPORT = "2027-01-31"


def _is_forge_view(view: Any) -> bool:
    """A view that takes Forge invocations: the ``connect_token_kind`` marker, never a closure."""
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    owners = [view, view_class, *(getattr(view_class, "authentication_classes", None) or ())]
    return any(getattr(owner, "connect_token_kind", None) == "forge" for owner in owners)


def forge_routes(patterns: Any = None, prefix: str = "") -> list[str]:
    """The routes of the ROOT_URLCONF whose view declares ``connect_token_kind = "forge"``."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    found: list[str] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found.extend(forge_routes(entry.url_patterns, prefix + str(entry.pattern)))
        elif isinstance(entry, URLPattern) and _is_forge_view(entry.callback):
            found.append("/" + prefix + str(entry.pattern))
    return found


@register()
def check_forge_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``atlassian_connect.E007``: ``FORGE_APP_ID`` is set but is not an app id."""
    from .forge.invocation import configured_app_ids

    try:
        if not connect_settings.FORGE_APP_ID:
            return []
        configured_app_ids()
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [
            Error(
                f"Forge invocations cannot be verified: {exc}",
                hint=f'Set {SETTING_NAME}["FORGE_APP_ID"] to the manifest\'s app.id '
                '("ari:cloud:ecosystem::app/<uuid>" or the bare uuid), or a list of them.',
                id="atlassian_connect.E007",
            )
        ]
    return []


@register(Tags.urls)
def check_forge_urls(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``atlassian_connect.E007``: Forge views are routed and ``FORGE_APP_ID`` is unset."""
    try:
        if connect_settings.FORGE_APP_ID:
            return []
        routes = forge_routes()
    except (ImportError, ImproperlyConfigured):
        return []  # a URLconf that does not import: Django's own URL checks say so
    if not routes:
        return []
    shown = ", ".join(routes[:5]) + (f" and {len(routes) - 5} more" if len(routes) > 5 else "")
    return [
        Error(
            f"Forge views are routed ({shown}) but {SETTING_NAME}['FORGE_APP_ID'] is not set: "
            "every Forge invocation would fail, since a token's audience cannot be checked.",
            hint=f'Set {SETTING_NAME}["FORGE_APP_ID"] to the manifest\'s app.id '
            '("ari:cloud:ecosystem::app/<uuid>"), or route the Forge views only when it is set.',
            id="atlassian_connect.E007",
        )
    ]


# A deployment check, not an ordinary one: it reads the database, and ordinary
# checks run before every management command (``migrate`` included, when the
# table may not exist yet) and on every runserver reload. Whether tenants are
# linked is a production readiness question: ``manage.py check --deploy``.
@register(deploy=True)
def check_forge_readiness(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``atlassian_connect.W003``: installed tenants with no Forge installation linked."""
    from .forge.installations import tenants_not_linked

    try:
        if not connect_settings.FORGE_APP_ID:
            return []
        count = tenants_not_linked().count()
    except ImproperlyConfigured:
        return []  # check_settings reports it
    except DatabaseError:
        return []  # not migrated yet: migrate says so
    if not count:
        return []
    return [
        Warning(
            f"{count} installed Connect tenant(s) have no Forge installation linked: they are "
            f"not ready for Connect's end of support ({CONNECT_END_OF_SUPPORT}).",
            hint=f"List them with '{FORGE_TENANTS_COMMAND}'. A tenant is linked when its site "
            "sends a signed Connect 'installed' carrying installationId (keep the Connect "
            "lifecycle in the Forge manifest), or by link_by_app_property() once a Forge "
            "invocation brought a system token. See the Forge state guide.",
            id="atlassian_connect.W003",
        )
    ]


@register()
def check_forge_contract_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``E020``-``E022`` (:mod:`.forge.setting_checks`: IC template, contextIds form, absent
    licence) and ``E023`` (``INSTALL_KEYS_URLS_BY_HOST``, Government Cloud install keys)."""
    from .connect.install_keys import keys_map_problems
    from .forge.setting_checks import setting_problems

    try:
        found = [*setting_problems(), *keys_map_problems()]
    except ImproperlyConfigured:
        return []  # check_settings reports it
    return [Error(text, hint=hint, id=f"atlassian_connect.{code}") for code, text, hint in found]


# -- OAuth 2.0 (3LO) -------------------------------------------------------------------------------

_OAUTH_PAIR = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET")


@register()
def check_oauth_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``atlassian_connect.E008``: only one of ``OAUTH_CLIENT_ID`` / ``OAUTH_CLIENT_SECRET``
    is set, or ``OAUTH_SCOPES`` is not a list of scope names."""
    try:
        user = connect_settings.user_settings
    except ImproperlyConfigured:
        return []  # check_settings reports it
    given = {name: bool(user.get(name)) for name in _OAUTH_PAIR}
    messages: list[Any] = []
    if any(given.values()) and not all(given.values()):
        present = next(name for name, value in given.items() if value)
        missing = next(name for name, value in given.items() if not value)
        messages.append(
            Error(
                f"{SETTING_NAME}['{present}'] is set but {SETTING_NAME}['{missing}'] is not: "
                "OAuth 2.0 (3LO) account linking needs both (every token request sends them).",
                hint=f'Set {SETTING_NAME}["{missing}"] from the same app in the Atlassian '
                "developer console (Settings: Client ID and Secret), e.g. from an environment "
                f"variable; or unset {SETTING_NAME}['{present}'] to turn 3LO off.",
                id="atlassian_connect.E008",
            )
        )
    scopes = user.get("OAUTH_SCOPES")
    if scopes is not None and (
        isinstance(scopes, str)
        or not isinstance(scopes, list | tuple)
        or not all(isinstance(s, str) and s.strip() and " " not in s.strip() for s in scopes)
    ):
        messages.append(
            Error(
                f"{SETTING_NAME}['OAUTH_SCOPES'] must be a list of scope names, not {scopes!r}.",
                hint='e.g. "OAUTH_SCOPES": ["read:me", "read:jira-user", "read:jira-work"] '
                "(offline_access is added when missing).",
                id="atlassian_connect.E008",
            )
        )
    return messages
