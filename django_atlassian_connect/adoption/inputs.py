"""What the settings say the manifest holds, read and checked once (when used, never cached).

Every value a manifest takes from ``ATLASSIAN_CONNECT`` goes through here, so
``forge_manifest`` (writing) and ``forge_manifest --check`` (comparing) cannot
read a setting two different ways.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import connect_settings
from ..forge import ids
from .errors import AdoptionError

PRODUCTS = ("jira", "confluence")
#: Forge's runtime names (``app.runtime.name`` in @forge/manifest 13.7.0).
RUNTIMES = ("nodejs20.x", "nodejs22.x", "nodejs24.x")
#: Region keys of a region-specific ``baseUrl`` (besides ``default`` = BASE_URL).
REGIONS = ("EU", "US", "AU", "DE", "SG", "CA", "IN", "KR", "JP", "GB", "CH")
REMOTE_KEY_RE = re.compile(r"[a-zA-Z0-9_-]{1,23}")
VARIABLE_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SETTING = 'ATLASSIAN_CONNECT["{}"]'


def _invalid(name: str, detail: str, **context: Any) -> AdoptionError:
    return AdoptionError(
        "adoption_setting_invalid", f"{_SETTING.format(name)} {detail}", setting=name, **context
    )


@dataclass(frozen=True)
class AppId:
    """``app.id``, and how many ids ``FORGE_APP_ID`` lists (the first one is used)."""

    value: str
    listed: int = 1


def app_ids() -> tuple[str, ...]:
    """Every id ``FORGE_APP_ID`` lists, as ARIs (a bare uuid becomes the ARI)."""
    value = connect_settings.FORGE_APP_ID
    values = [value] if isinstance(value, str) else list(value or [])
    if not values or not str(values[0]).strip():
        raise AdoptionError("adoption_app_id_missing")
    try:
        return tuple(ids.normalise_app_id(str(v)) for v in values)
    except ValueError as exc:
        raise AdoptionError(
            "adoption_app_id_invalid", f'ATLASSIAN_CONNECT["FORGE_APP_ID"]: {exc}'
        ) from exc


def app_id() -> AppId:
    """``app.id``: ``FORGE_APP_ID``, the first of a list. Missing or ill-formed: an error."""
    listed = app_ids()
    return AppId(listed[0], len(listed))


def product(explicit: str | None = None, manifest: Mapping[str, Any] | None = None) -> str:
    """``--product``, else ``FORGE_PRODUCT``, else (reading a manifest) its connectModules."""
    value = explicit or connect_settings.FORGE_PRODUCT
    if not value and manifest is not None:
        modules = manifest.get("connectModules")
        found = (
            {str(k).split(":", 1)[0] for k in modules} if isinstance(modules, Mapping) else set()
        )
        value = found.pop() if len(found) == 1 else None
    if not value:
        raise AdoptionError("adoption_product_missing")
    name = str(value).strip().lower()
    if name not in PRODUCTS:
        raise AdoptionError(
            "adoption_product_invalid", f"The product {value!r} is neither jira nor confluence."
        )
    return name


def runtime() -> str:
    value = connect_settings.FORGE_RUNTIME
    if value not in RUNTIMES:
        raise _invalid("FORGE_RUNTIME", f"is {value!r}: use one of {', '.join(RUNTIMES)}.")
    return str(value)


def remote_key() -> str:
    value = str(connect_settings.FORGE_REMOTE_KEY or "")
    if not REMOTE_KEY_RE.fullmatch(value):
        raise _invalid(
            "FORGE_REMOTE_KEY",
            f"is {value!r}: a remote key is 1-23 letters, digits, - or _.",
        )
    return value


def regions() -> dict[str, str]:
    """``FORGE_REGIONS`` checked: Forge's region keys, URLs without a trailing slash."""
    value = connect_settings.FORGE_REGIONS or {}
    if not isinstance(value, Mapping):
        raise _invalid(
            "FORGE_REGIONS", f'is a {type(value).__name__}: use {{"EU": "https://..."}}.'
        )
    result = {}
    for region, url in value.items():
        if region not in REGIONS:
            raise _invalid(
                "FORGE_REGIONS",
                f"has the region {region!r}: use {', '.join(REGIONS)} (BASE_URL is the default).",
            )
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _invalid("FORGE_REGIONS", f"has {url!r} for {region}: use the region's URL.")
        result[region] = url.rstrip("/")
    return result


def base_url() -> str | dict[str, str]:
    """The remote's ``baseUrl``: BASE_URL, or ``{default: BASE_URL, <region>: ...}``."""
    by_region = regions()
    if not by_region:
        return str(connect_settings.BASE_URL)
    return {"default": str(connect_settings.BASE_URL), **by_region}


def connect_key_variable(name: str | None) -> str | None:
    if name is None:
        return None
    if not VARIABLE_RE.fullmatch(name):
        raise AdoptionError(
            "adoption_variable_invalid",
            f"--connect-key-variable {name!r} is not a manifest variable name.",
        )
    return name


@dataclass(frozen=True)
class Tokens:
    """What the app asks Forge for: user tokens, offline impersonation, OAuth 2.0 scopes."""

    user_tokens: bool
    offline_impersonation: bool
    oauth_scopes: list[str] = field(default_factory=list)


def tokens() -> Tokens:
    scopes = connect_settings.OAUTH_SCOPES if connect_settings.OAUTH_CLIENT_ID else []
    return Tokens(
        user_tokens=bool(connect_settings.FORGE_USER_TOKENS),
        offline_impersonation=bool(connect_settings.FORGE_OFFLINE_IMPERSONATION),
        oauth_scopes=list(scopes or []),
    )
