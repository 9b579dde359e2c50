"""The lifecycle body: parse it, and the checks that need no token.

A body is a JSON object with string fields; each field must fit its tenant
column and be storable text. ``key`` must be our app key and ``baseUrl``'s
host must be on ``ALLOWED_PRODUCT_HOSTS``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import FieldDoesNotExist

from ...conf import connect_settings
from ...exceptions import ConnectAuthError
from ...models import get_tenant_model
from ...tokens import has_unstorable_text

EVENT_TYPES = ("installed", "uninstalled", "enabled", "disabled")

# payload field -> tenant field
PAYLOAD_FIELDS = {
    "baseUrl": "base_url",
    "displayUrl": "display_url",
    "displayUrlServicedeskHelpCenter": "display_url_servicedesk_help_center",
    "productType": "product_type",
    "description": "description",
    "serviceEntitlementNumber": "service_entitlement_number",
    "entitlementId": "entitlement_id",
    "entitlementNumber": "entitlement_number",
    "oauthClientId": "oauth_client_id",
    "installationId": "installation_id",
    "cloudId": "cloud_id",
    "serverVersion": "server_version",
    "pluginsVersion": "plugins_version",
}
_MAX_FIELD = {"description": 4000, "sharedSecret": 512}
RECORDED_FIELDS = ("key", "clientKey", "eventType", *PAYLOAD_FIELDS)


def parse_payload(body: bytes, event_type: str) -> dict[str, Any]:
    """The JSON body as a dict with the required string fields, or ``payload_invalid``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConnectAuthError(
            "payload_invalid", f"The {event_type} body is not valid JSON."
        ) from exc
    if not isinstance(payload, dict):
        raise ConnectAuthError("payload_invalid", f"The {event_type} body is not a JSON object.")
    required = ["key", "clientKey", "baseUrl"]
    if event_type == "installed":
        required.append("sharedSecret")
    for name in required:
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body lacks the string field {name!r}.",
                client_key=str_or_none(payload.get("clientKey")),
            )
    for name in ("key", "clientKey", "eventType", *PAYLOAD_FIELDS, "sharedSecret"):
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} must be a string.",
                client_key=str_or_none(payload.get("clientKey")),
            )
        limit = _max_length(name)
        if len(value) > limit:
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} is longer than {limit} characters.",
                client_key=str_or_none(payload.get("clientKey")),
            )
        if has_unstorable_text(value):
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} contains a NUL character or an "
                "unpaired surrogate.",
                client_key=str_or_none(payload.get("clientKey")),
            )
    declared = payload.get("eventType")
    if declared is not None and declared != event_type:
        raise ConnectAuthError(
            "payload_invalid",
            f"A body with eventType {str(declared)[:20]!r} was sent to the {event_type} callback.",
            client_key=payload["clientKey"],
        )
    try:
        parts = urlsplit(payload["baseUrl"])
        hostname = parts.hostname
    except ValueError:  # e.g. "https://[bad"
        hostname = None
    if not hostname or parts.scheme not in ("http", "https"):
        raise ConnectAuthError(
            "payload_invalid",
            f"The baseUrl {payload['baseUrl'][:100]!r} is not an http(s) URL.",
            client_key=payload["clientKey"],
        )
    return payload


def str_or_none(value: Any) -> str | None:
    if not isinstance(value, str) or has_unstorable_text(value):
        return None
    return value[:255]


def _max_length(name: str) -> int:
    """The longest value a payload field may have: what its tenant column holds."""
    if name in _MAX_FIELD:
        return _MAX_FIELD[name]
    attr = PAYLOAD_FIELDS.get(name)
    if attr is not None:
        try:
            limit = getattr(get_tenant_model()._meta.get_field(attr), "max_length", None)
        except FieldDoesNotExist:
            limit = None
        if isinstance(limit, int) and limit > 0:
            return min(limit, 255)
    return 255


def check_app_key(payload: Mapping[str, Any]) -> None:
    if payload["key"] != connect_settings.APP_KEY:
        raise ConnectAuthError(
            "app_key_mismatch",
            f"The body's key {payload['key'][:100]!r} is not this app's key "
            f"{connect_settings.APP_KEY!r}.",
            client_key=payload["clientKey"],
        )


def is_allowed_product_host(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return bool(host) and any(
        fnmatch(host, pattern.lower()) for pattern in connect_settings.ALLOWED_PRODUCT_HOSTS
    )


def check_product_host(payload: Mapping[str, Any]) -> None:
    if not is_allowed_product_host(payload["baseUrl"]):
        host = urlsplit(payload["baseUrl"]).hostname
        raise ConnectAuthError(
            "product_host_not_allowed",
            f"The site host {host!r} matches none of ALLOWED_PRODUCT_HOSTS "
            f"({', '.join(connect_settings.ALLOWED_PRODUCT_HOSTS)}).",
            client_key=payload["clientKey"],
        )


def app_base_urls() -> list[str]:
    return [connect_settings.BASE_URL, *connect_settings.EXTRA_BASE_URLS]


def tenant_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    fields = {"app_key": payload["key"]}
    for name, attr in PAYLOAD_FIELDS.items():
        value = payload.get(name)
        fields[attr] = value if isinstance(value, str) else ""
    return fields
