"""Which view a URL reaches in our URLconf, and which tokens that view declares.

Views say what they take with a marker that ``functools.wraps`` carries through
other decorators: ``@connect_jwt_required`` sets ``connect_token_kind`` on the
view function, the DRF authentication classes carry it as a class attribute.
The doctor reads that marker, never a decorator's closure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from django.http import HttpRequest
from django.urls import Resolver404, resolve

from ..checks import include_hint, unrouted_connect_urls
from ..conf import connect_settings
from ..qsh import split_url

__all__ = [
    "TOKEN_KINDS",
    "endpoint_kind",
    "inbound_request",
    "include_hint",
    "lifecycle_event_of",
    "relative_path",
    "route",
    "unrouted_connect_urls",
    "view_token_kind",
]

TOKEN_KINDS = ("request", "context")


def route(path: str) -> tuple[Any, str] | None:
    """The view serving ``path`` (relative to BASE_URL), as ``(view, name)``.

    Served under a base path, Django sees the path without it (``SCRIPT_NAME``);
    a URLconf that includes the base path itself is tried too.
    """
    base_path = urlsplit(connect_settings.get("BASE_URL") or "").path.rstrip("/")
    for candidate in (path, base_path + path) if base_path else (path,):
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        return match.func, match.view_name or ""
    return None


def lifecycle_event_of(view: Any) -> str | None:
    """The lifecycle event a resolved view handles (``LifecycleView.as_view(event_type=...)``)."""
    initkwargs = getattr(view, "view_initkwargs", None) or {}
    view_class = getattr(view, "view_class", None)
    event = initkwargs.get("event_type") or getattr(view_class, "event_type", None)
    return event if isinstance(event, str) and event else None


def _declared(owner: Any) -> str | None:
    kind = getattr(owner, "connect_token_kind", None)
    return kind if kind in TOKEN_KINDS else None


def view_token_kind(view: Any) -> str | None:
    """``"request"``, ``"context"`` or ``None``: what a resolved view declares it takes."""
    kind = _declared(view)  # @connect_jwt_required, however deep in a decorator stack
    if kind:
        return kind
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    kind = _declared(view_class)
    if kind:
        return kind
    # DRF: the authentication classes declare it; a context class only takes context tokens.
    kinds = [_declared(c) for c in getattr(view_class, "authentication_classes", None) or ()]
    kinds = [k for k in kinds if k]
    if kinds:
        return "context" if all(k == "context" for k in kinds) else "request"
    return None


def endpoint_kind(url: str) -> tuple[str | None, str]:
    """``("context" | "request" | None, view name)`` of the view our URLconf routes ``url`` to."""
    path = unquote(split_url(url)[0]) or "/"
    base_path = urlsplit(connect_settings.BASE_URL).path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    found = route(path)
    if found is None:
        return None, ""
    view, name = found
    return view_token_kind(view), name or getattr(view, "__name__", "")


def relative_path(url: str, base_url: str) -> str | None:
    """The path the product requests under ``base_url`` for a descriptor URL."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in url:
        if not url.startswith(base_url.rstrip("/") + "/"):
            return None
        url = url[len(base_url.rstrip("/")) :]
    return url if url.startswith("/") else "/" + url


def inbound_request(method: str, url: str) -> HttpRequest:
    """A bare request as Django would build it for ``url`` (for :class:`inbound.RequestQsh`)."""
    raw_path, query = split_url(url)
    request = HttpRequest()
    request.method = method.upper()
    request.path = unquote(raw_path) or "/"
    request.path_info = request.path
    request.META["QUERY_STRING"] = query
    request.META["REQUEST_URI"] = raw_path
    return request
