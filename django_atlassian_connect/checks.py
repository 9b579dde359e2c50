"""System checks: ``atlassian_connect.E00x`` cannot work, ``W00x`` is risky."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from . import crypto
from .conf import SETTING_NAME, connect_settings

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

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
    from .descriptor import normalise_scopes, template_app_key

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
                f"The encryption keys for shared secrets are unusable: {exc}",
                hint=f'Set {SETTING_NAME}["ENCRYPTION_KEYS"] to a list of Fernet keys '
                "(cryptography.fernet.Fernet.generate_key()) or passphrases.",
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
