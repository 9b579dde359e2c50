"""Where a credential may be sent: a site URL, or the API gateway's ``/ex/{product}/{cloudId}``;
and the URL rules every session applies (:func:`origin`, :func:`unsafe_path`).

Pure functions over URLs and the settings (``API_URL``); no HTTP. A client
computes its one base URL here when it is made, and its session sends the
credential under that base only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from ..conf import connect_settings
from ..exceptions import ConnectClientError

__all__ = [
    "LOOPBACK_HOSTS",
    "PRODUCTS",
    "gateway_base_url",
    "is_cloud_id",
    "origin",
    "parse_gateway_url",
    "refuse_unsafe_path",
    "site_base_url",
    "unsafe_path",
]

#: The products whose REST APIs the gateway serves under ``/ex/{product}/{cloudId}``.
PRODUCTS = ("jira", "confluence")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Hosts where plain http is allowed (tests, simulators, local development).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ENCODED_SEPARATOR = re.compile(r"%2[ef]", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def unsafe_path(path: str) -> str | None:
    """What in a URL path could reach another resource than its text says, or ``None``.

    A ``.`` or ``..`` segment, also percent-encoded, climbs out of a base path
    (``/ex/jira/<cloudId>/..`` is another site); an encoded ``/`` or ``.``
    (``%2F``, ``%2E``, any case) inside a segment passes a prefix check and is
    decoded into a separator or a dot segment by some servers and proxies.
    """
    for segment in path.split("/"):
        if unquote(segment) in (".", ".."):
            return f"the dot segment {segment[:40]!r}"
        if _ENCODED_SEPARATOR.search(segment):
            return f"an encoded '/' or '.' in the segment {segment[:40]!r}"
    return None


def refuse_unsafe_path(
    url: str, method: str | bytes, who: str, *, url_hint: str = "", **context: Any
) -> None:
    """``url_not_allowed`` before sending, when the path of ``url`` has :func:`unsafe_path`.

    ``url_hint``: the session's own advice on URLs, added to the hint.
    """
    unsafe = unsafe_path(urlsplit(url).path)
    if unsafe is None:
        return
    verb = (method.decode() if isinstance(method, bytes) else method).upper()
    raise ConnectClientError(
        "url_not_allowed",
        f"Refusing to send {who} to {url}: its path has {unsafe}; nothing was sent.",
        hint="Dot segments and '/' or '.' percent-encoded in a path segment (%2F, %2E) can "
        "make the server read another path than the one checked: pass such values as query "
        f"parameters, or address the resource by its id or key. {url_hint}".strip(),
        method=verb,
        url=url,
        **context,
    )


def is_cloud_id(value: str) -> bool:
    """A site's cloudId: a UUID (``GET {API_URL}/oauth/token/accessible-resources`` ``id``,
    or ``https://<site>.atlassian.net/_edge/tenant_info``)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _check_product(product: str) -> str:
    if product not in PRODUCTS:
        raise ValueError(f"product must be one of {', '.join(PRODUCTS)}, not {product!r}.")
    return product


def _check_origin(url: str, what: str) -> tuple[str, str]:
    """``(scheme, host)``: https, or http on a loopback host (tests and simulators)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise ValueError(f"{what} must be an absolute https URL, not {url[:100]!r}.")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{what} {url[:100]!r} is plain http: credentials go over https only "
            "(http is allowed for a loopback host, for tests)."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry user info, a query or a fragment.")
    return scheme, host


def api_url() -> str:
    """``API_URL`` without a trailing slash, checked like any credential target."""
    url = str(connect_settings.API_URL).rstrip("/")
    _check_origin(url, 'ATLASSIAN_CONNECT["API_URL"]')
    return url


def gateway_base_url(cloud_id: str, product: str = "jira") -> str:
    """``{API_URL}/ex/{product}/{cloudId}``: where scoped API tokens, service-account and
    3LO tokens go (never to ``*.atlassian.net``)."""
    if not is_cloud_id(cloud_id):
        raise ValueError(
            f"{cloud_id[:100]!r} is not a cloudId (a UUID): find it with GET "
            "https://<site>.atlassian.net/_edge/tenant_info, or in the id of "
            "GET {API_URL}/oauth/token/accessible-resources."
        )
    return f"{api_url()}/ex/{_check_product(product)}/{cloud_id.lower()}"


def parse_gateway_url(url: str) -> tuple[str, str] | None:
    """``(product, cloudId)`` of a URL under ``{API_URL}/ex/{product}/{cloudId}``, else ``None``."""
    gateway = urlsplit(api_url())
    parts = urlsplit(url)
    if (parts.scheme.lower(), (parts.netloc or "").lower()) != (
        gateway.scheme.lower(),
        gateway.netloc.lower(),
    ):
        return None
    prefix = gateway.path.rstrip("/")
    path = parts.path
    if prefix and not path.startswith(prefix + "/"):
        return None
    segments = path[len(prefix) :].strip("/").split("/")
    if len(segments) >= 3 and segments[0] == "ex" and segments[1] in PRODUCTS:
        if is_cloud_id(segments[2]):
            return segments[1], segments[2].lower()
    return None


def is_gateway_origin(url: str) -> bool:
    """The URL is on ``API_URL``'s scheme, host and port."""
    gateway, parts = urlsplit(api_url()), urlsplit(url)
    return (parts.scheme.lower(), parts.netloc.lower()) == (
        gateway.scheme.lower(),
        gateway.netloc.lower(),
    )


def site_base_url(url: str) -> str:
    """A product site's URL as a base for classic API tokens (``https://x.atlassian.net``).

    https only (http on a loopback host); the gateway's own host is refused here:
    give a cloudId for the gateway.
    """
    _check_origin(url, "The site URL")
    base = url.rstrip("/")
    if is_gateway_origin(base):
        raise ValueError(
            f"{url[:100]!r} is the API gateway, not a site: give the cloudId (or the "
            "whole {API_URL}/ex/jira/<cloudId> URL) instead."
        )
    return base
