"""System checks: ``atlassian_connect.E00x`` cannot work, ``W00x`` is risky."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import crypto
from .conf import SETTING_NAME, connect_settings

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


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
