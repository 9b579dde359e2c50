"""DRF permissions on the Connect identity (``request.user`` / ``request.auth``)."""

from __future__ import annotations

from typing import Any, cast

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import forge_token_missing_failure, token_missing_failure
from .connect.inbound import ConnectAuth, ConnectUser
from .forge.access import ForgeAccessDenied, check_access
from .forge.context import ForgeContext
from .forge.principal import ForgePrincipal
from .responses import error_body

__all__ = ["IsConnectTenant", "IsConnectUser", "IsForgeInvocation", "IsForgeLicensed"]


class IsConnectTenant(BasePermission):
    """A verified Connect token of an installed tenant (anonymous users allowed).

    A request that no authentication class accepted is refused with
    ``token_missing`` (401, ``{"detail", "code", "hint"}``); DRF's own
    ``IsAuthenticated`` answers its generic "credentials were not provided".
    """

    message = "A verified Atlassian Connect token is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ConnectAuth) and isinstance(request.user, ConnectUser):
            return True
        if request.successful_authenticator is None:
            raise token_missing_failure(request)
        return False  # another scheme authenticated the request: 403


class IsConnectUser(IsConnectTenant):
    """As :class:`IsConnectTenant`, and the token names a user (``sub``)."""

    message = "This endpoint needs a Connect token of a logged-in Atlassian user."

    def has_permission(self, request: Request, view: Any) -> bool:
        return (
            super().has_permission(request, view)
            and getattr(request.user, "account_id", None) is not None
        )


class IsForgeInvocation(BasePermission):
    """A verified Forge invocation (``ForgeInvocationAuthentication``).

    A request that no authentication class accepted is refused with
    ``token_missing`` and the Forge hint (401, ``WWW-Authenticate: Bearer``);
    one another scheme accepted is a 403.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ForgeContext) and isinstance(request.user, ForgePrincipal):
            return True
        if request.successful_authenticator is None:
            raise forge_token_missing_failure(request)
        return False


class IsForgeLicensed(IsForgeInvocation):
    """A verified Forge invocation whose site is licensed (and whose user has access).

    ::

        class Report(APIView):
            authentication_classes = [ForgeInvocationAuthentication]
            permission_classes = [IsForgeLicensed]

    ``app.license.active`` decides (the deprecated ``isActive`` only when
    ``active`` is absent); an absent licence means what ``FORGE_ABSENT_LICENSE``
    says for the environment; with ``FORGE_USER_BASED_BILLING`` (or
    ``user_access = True`` on a subclass) the user in session needs
    ``context.userAccess.hasAccess``. Refusals are **403** with
    ``{"detail", "code", "hint"}`` (``forge_license_inactive``, ...), never 401:
    Forge reads a 401 as a bad token. No FIT at all is the 401 of
    :class:`IsForgeInvocation`.
    """

    #: Check ``context.userAccess`` too; ``None``: ``FORGE_USER_BASED_BILLING`` decides.
    user_access: bool | None = None

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        context = cast(ForgeContext, request.auth)  # the parent checked its type
        try:
            check_access(context, user_access=self.user_access)
        except ForgeAccessDenied as denied:
            # The body of every refusal of this package, not DRF's {"detail"} alone.
            raise PermissionDenied(detail=error_body(denied)) from denied
        return True
