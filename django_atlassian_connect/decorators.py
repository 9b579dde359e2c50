"""Connect JWT verification for plain Django views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from .exceptions import ConnectAuthError
from .inbound import ConnectAuth, log_refusal, verify_request
from .responses import refusal_response

__all__ = ["connect_jwt_required"]

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _allow_framing_by_tenant(response: HttpResponse, auth: ConnectAuth) -> None:
    """Let the tenant's site (and only it) show this page in its iframe."""
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    if "Content-Security-Policy" in response:
        return
    origins = {
        origin
        for origin in (_origin(auth.tenant.base_url), _origin(auth.tenant.display_url))
        if origin
    }
    if origins:
        response["Content-Security-Policy"] = "frame-ancestors " + " ".join(sorted(origins))


@overload
def connect_jwt_required(view: ViewFunc) -> ViewFunc: ...
@overload
def connect_jwt_required(
    view: None = None, *, context: bool = False, allow_disabled: bool = False
) -> Callable[[ViewFunc], ViewFunc]: ...


def connect_jwt_required(
    view: ViewFunc | None = None, *, context: bool = False, allow_disabled: bool = False
) -> Any:
    """Require a verified Connect JWT; sets ``request.connect`` (:class:`ConnectAuth`).

    ``context=False`` (default) takes request tokens whose qsh is this
    request's hash: iframe pages (``?jwt=``) and webhooks. ``context=True``
    takes context tokens only. Refusals are 401 JSON with a code and hint.

    The view is CSRF-exempt (the JWT, not a cookie, authenticates it) and its
    responses may be framed by the tenant's site (``frame-ancestors``).
    """

    def decorator(view_func: ViewFunc) -> ViewFunc:
        @wraps(view_func)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                auth = verify_request(request, context=context, allow_disabled=allow_disabled)
            except ConnectAuthError as error:
                log_refusal(request, error)
                return refusal_response(error)
            request.connect = auth  # type: ignore[attr-defined]
            response = view_func(request, *args, **kwargs)
            _allow_framing_by_tenant(response, auth)
            return response

        wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    if view is not None:
        return decorator(view)
    return decorator
