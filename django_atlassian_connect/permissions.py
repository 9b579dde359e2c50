"""DRF permissions on the Connect identity (``request.user`` / ``request.auth``)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import forge_token_missing_failure, token_missing_failure
from .connect.inbound import ConnectAuth, ConnectUser
from .forge.context import ForgeContext
from .forge.principal import ForgePrincipal

__all__ = ["IsConnectTenant", "IsConnectUser", "IsForgeInvocation"]


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
