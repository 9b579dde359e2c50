"""Forge identifiers: app, installation and site ARIs, and their checks.

Pure functions, no Django. Lifecycle events name an installation by its
bare UUID where a Forge Invocation Token (FIT) uses the ARI; everything is
normalised to the ARI before it is compared or stored.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..http.targets import LOOPBACK_HOSTS

APP_PREFIX = "ari:cloud:ecosystem::app/"
INSTALLATION_PREFIX = "ari:cloud:ecosystem::installation/"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID_RE = re.compile(_UUID)
APP_ARI_RE = re.compile(re.escape(APP_PREFIX) + _UUID)
INSTALLATION_ARI_RE = re.compile(re.escape(INSTALLATION_PREFIX) + _UUID)
# Isolated Cloud labels go into a URL: letters we trust only (spec 3.4).
IC_LABEL_RE = re.compile(r"[a-z0-9_-]{1,50}")
PRODUCTS = ("jira", "confluence", "bitbucket")


def normalise_app_id(value: str) -> str:
    """``ari:cloud:ecosystem::app/<uuid>`` from the ARI or the bare uuid.

    Raises ``ValueError`` naming the expected shape for anything else.
    """
    text = value.strip().lower()
    if UUID_RE.fullmatch(text):
        text = APP_PREFIX + text
    if not APP_ARI_RE.fullmatch(text):
        raise ValueError(
            f"{value!r} is not a Forge app id: use the manifest's app.id, "
            f"'{APP_PREFIX}<uuid>', or the bare uuid."
        )
    return text


def normalise_installation_id(value: str) -> str:
    """The installation ARI from the ARI or the bare uuid of a lifecycle event."""
    text = value.strip().lower()
    if UUID_RE.fullmatch(text):
        text = INSTALLATION_PREFIX + text
    if not INSTALLATION_ARI_RE.fullmatch(text):
        raise ValueError(f"{value[:80]!r} is not a Forge installation id.")
    return text


def is_installation_ari(value: object) -> bool:
    return isinstance(value, str) and INSTALLATION_ARI_RE.fullmatch(value) is not None


def site_ari(product: str, cloud_id: str) -> str:
    """``ari:cloud:<product>::site/<cloudId>``: the lifecycle event's ``context``."""
    return f"ari:cloud:{product}::site/{cloud_id}"


def product_of(api_base_url: str) -> str | None:
    """``jira`` / ``confluence`` from ``https://api.atlassian.com/ex/<product>/<cloudId>``."""
    parts = urlsplit(api_base_url).path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "ex" and parts[1] in PRODUCTS:
        return parts[1]
    if urlsplit(api_base_url).hostname == "api.bitbucket.org":
        return "bitbucket"
    return None


def cloud_id_of(api_base_url: str) -> str | None:
    """The cloudId segment of a gateway ``apiBaseUrl``."""
    parts = urlsplit(api_base_url).path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "ex" and UUID_RE.fullmatch(parts[2]):
        return parts[2]
    return None


def api_host_allowed(api_base_url: str, allowed_hosts: list[str] | tuple[str, ...]) -> bool:
    """https on a listed host; plain http only on a listed loopback host (tests, simulators)."""
    try:
        parts = urlsplit(api_base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not host or host not in {h.lower() for h in allowed_hosts}:
        return False
    if parts.username or parts.password or parts.query or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and host in LOOPBACK_HOSTS
