"""Token verification for plain Django views.

- :func:`connect_jwt_required`: Connect JWTs (iframes, webhooks, context tokens);
- :func:`forge_invocation_required`: Forge Invocation Tokens (Forge Remote);
- :func:`forge_license_required`: the same, and a licensed site (and user).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse

from .connect.inbound import ConnectAuth, log_refusal, verify_request
from .exceptions import ConnectAuthError, ForgeAuthError
from .forge import invocation
from .forge.access import ForgeAccessDenied, check_access
from .forge.context import ForgeContext
from .forge.events import admit
from .responses import error_response, forge_refusal_response, refusal_response

__all__ = ["connect_jwt_required", "forge_invocation_required", "forge_license_required"]

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


# Every page of a tenant gets the same policy: computed once per pair of URLs.
@lru_cache(maxsize=1024)
def _frame_ancestors(base_url: str, display_url: str) -> str | None:
    origins = {origin for origin in (_origin(base_url), _origin(display_url)) if origin}
    return "frame-ancestors " + " ".join(sorted(origins)) if origins else None


def _allow_framing_by_tenant(response: HttpResponse, auth: ConnectAuth) -> None:
    """Let the tenant's site (and only it) show this page in its iframe."""
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    if "Content-Security-Policy" in response:
        return
    policy = _frame_ancestors(auth.tenant.base_url or "", auth.tenant.display_url or "")
    if policy:
        response["Content-Security-Policy"] = policy


def _verify(
    request: HttpRequest, context: bool, allow_disabled: bool
) -> ConnectAuth | HttpResponse:
    """The verified token, or the refusal to answer (logged)."""
    try:
        return verify_request(request, context=context, allow_disabled=allow_disabled)
    except ConnectAuthError as error:
        log_refusal(request, error)
        return refusal_response(error)


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

    Works on ``async def`` views too: the verification (database and cache
    reads) runs through ``sync_to_async``, the view itself stays async.
    """

    def decorator(view_func: ViewFunc) -> ViewFunc:
        wrapped: Any
        if iscoroutinefunction(view_func):
            # Verification reads the database and the cache, which are sync-only
            # in Django: it runs in a worker thread, the view stays async.
            verify = sync_to_async(_verify, thread_sensitive=True)

            @wraps(view_func)
            async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                auth = await verify(request, context, allow_disabled)
                if isinstance(auth, HttpResponse):
                    return auth
                request.connect = auth  # type: ignore[attr-defined]
                response = await view_func(request, *args, **kwargs)
                _allow_framing_by_tenant(response, auth)
                return response

        else:

            @wraps(view_func)
            def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                auth = _verify(request, context, allow_disabled)
                if isinstance(auth, HttpResponse):
                    return auth
                request.connect = auth  # type: ignore[attr-defined]
                response = view_func(request, *args, **kwargs)
                _allow_framing_by_tenant(response, auth)
                return response

        wrapped.csrf_exempt = True
        # Declared on the view, not hidden in this closure: functools.wraps copies
        # __dict__, so the marker survives @require_GET, @never_cache and friends
        # stacked above or below, and connect_doctor and the checks read it.
        wrapped.connect_token_kind = "context" if context else "request"
        return wrapped  # type: ignore[no-any-return]

    if view is not None:
        return decorator(view)
    return decorator


def _admit_forge(request: HttpRequest) -> HttpResponse | None:
    """Verify the FIT, then record it; ``None`` when admitted, else the refusal (logged).

    Nothing is written before the token verified: a refusal changes nothing.
    A request another Forge decorator admitted already is not admitted twice
    (a second admission would count its FIT as replayed).
    """
    if getattr(request, "forge", None) is not None:
        return None
    try:
        context: ForgeContext = invocation.verify_invocation(request)
        installation = admit(context, request)
    except ForgeAuthError as error:
        invocation.log_refusal(request, error)
        return forge_refusal_response(error)
    request.forge = context  # type: ignore[attr-defined]
    request.forge_installation = installation  # type: ignore[attr-defined]
    return None


def forge_invocation_required(view_func: ViewFunc) -> ViewFunc:
    """Require a verified Forge Invocation Token (Forge Remote)::

        @forge_invocation_required
        def issue_panel(request):
            request.forge.principal         # the user in session, or None
            request.forge_installation      # the ForgeInstallation row
            ...

    Sets ``request.forge`` (:class:`~django_atlassian_connect.forge.ForgeContext`)
    and ``request.forge_installation``; the installation is recorded (and
    its system token stored when newer) before the view runs, and
    ``forge_invoked`` is sent after commit. Refusals: 401 with
    ``WWW-Authenticate: Bearer`` and ``{"detail", "code", "hint"}``, 503
    ``key_unavailable`` with ``Retry-After`` when Forge's keys cannot be had;
    a refusal writes nothing.

    The view is CSRF-exempt (the FIT, not a cookie, authenticates it) and this
    decorator never redirects: Forge follows no redirects. Works on
    ``async def`` views too (verification and recording run through
    ``sync_to_async``).
    """
    return _forge_view(view_func, _admit_forge)


def _forge_view(view_func: ViewFunc, admit: Callable[[HttpRequest], HttpResponse | None]) -> Any:
    """``view_func`` behind ``admit`` (a refusal or ``None``), sync or async, CSRF-exempt."""
    wrapped: Any
    if iscoroutinefunction(view_func):
        # The JWKS cache and the installation row are sync-only in Django: a
        # worker thread does them, the view itself stays async.
        admit_async = sync_to_async(admit, thread_sensitive=True)

        @wraps(view_func)
        async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refusal = await admit_async(request)
            if refusal is not None:
                return refusal
            return await view_func(request, *args, **kwargs)  # type: ignore[no-any-return]

    else:

        @wraps(view_func)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refusal = admit(request)
            if refusal is not None:
                return refusal
            return view_func(request, *args, **kwargs)

    wrapped.csrf_exempt = True
    # Read by connect_doctor and the checks (see connect_jwt_required).
    wrapped.connect_token_kind = "forge"
    return wrapped


def _admit_licensed(request: HttpRequest, user_access: bool | None) -> HttpResponse | None:
    """The FIT (unless another Forge decorator verified it), then the licence."""
    refusal = _admit_forge(request)
    if refusal is not None:
        return refusal
    try:
        check_access(request.forge, user_access=user_access)  # type: ignore[attr-defined]
    except ForgeAccessDenied as denied:
        return error_response(denied)  # 403: the token was fine, the entitlement is not
    return None


@overload
def forge_license_required(view: ViewFunc) -> ViewFunc: ...
@overload
def forge_license_required(
    view: None = None, *, user_access: bool | None = None
) -> Callable[[ViewFunc], ViewFunc]: ...


def forge_license_required(view: ViewFunc | None = None, *, user_access: bool | None = None) -> Any:
    """Require a verified FIT of a licensed site (and user), for plain Django views::

        @forge_license_required
        def report(request):
            request.forge.license_info      # ForgeLicense, or None (absent, counted licensed)
            ...

    Verifies the FIT as :func:`forge_invocation_required` does (stacked with
    it, in either order, the FIT is admitted once), then runs
    :func:`~django_atlassian_connect.forge.access.check_access`. Refusals of
    the licence or user access are **403** ``{"detail", "code", "hint"}``
    (``forge_license_inactive``, ``forge_license_missing``,
    ``forge_user_access_denied``...), never 401: Forge reads a 401 as a bad
    token. ``user_access``: check ``context.userAccess`` too (``None``:
    ``FORGE_USER_BASED_BILLING`` decides). Works on ``async def`` views.
    """

    def decorator(view_func: ViewFunc) -> ViewFunc:
        return _forge_view(view_func, lambda request: _admit_licensed(request, user_access))  # type: ignore[no-any-return]

    if view is not None:
        return decorator(view)
    return decorator
