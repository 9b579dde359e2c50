"""DRF authentication classes for Connect JWTs and Forge Invocation Tokens.

``authenticate()`` is split into small steps a subclass can override
(``get_raw_token`` -> ``get_validated_token`` -> ``get_user``).

- :class:`ConnectJWTAuthentication`: request tokens, whose qsh must be the
  hash of this request (iframe pages, webhooks, descriptor URLs).
- :class:`ConnectContextJWTAuthentication`: context tokens only
  (``AP.context.getToken()`` from your own front end).
- :class:`ForgeInvocationAuthentication`: Forge Remote invocations
  (``Authorization: Bearer <FIT>``).

A request without a token of the class's scheme is not ours: ``None``, so
other authentication classes may run. A token that fails verification is a
401 with ``WWW-Authenticate: JWT realm="<app key>"`` (Connect) or
``Bearer realm="<app key>", error="<code>"`` (Forge) and
``{"detail", "code", "hint"}``; Forge's keys out of reach is a 503
``key_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .connect.inbound import ConnectAuth, ConnectUser, get_raw_token, log_refusal, verify_request
from .exceptions import ConnectAuthenticationFailed as ConnectAuthenticationFailed  # re-exported
from .exceptions import ConnectAuthError, ForgeAuthError
from .forge import invocation
from .forge.context import ForgeContext
from .forge.events import admit
from .forge.principal import ForgePrincipal
from .responses import bearer_challenge, error_body, www_authenticate

if TYPE_CHECKING:
    from .models import ForgeInstallation

__all__ = [
    "ConnectAuthenticationFailed",
    "ConnectContextJWTAuthentication",
    "ConnectJWTAuthentication",
    "ForgeInvocationAuthentication",
    "forge_token_missing_failure",
]


class ConnectJWTAuthentication(BaseAuthentication):
    """Connect request JWTs (computed qsh)."""

    #: ``True`` accepts context tokens (qsh ``context-qsh``) and nothing else.
    context_tokens = False
    #: What a view using this class declares it takes (read by connect_doctor
    #: and the system checks): ``"request"`` or ``"context"``.
    connect_token_kind = "request"
    #: Accept tokens of tenants the product disabled.
    allow_disabled_tenants = False

    def authenticate(self, request: Request) -> tuple[ConnectUser, ConnectAuth] | None:
        django_request: HttpRequest = request._request
        try:
            raw = self.get_raw_token(django_request)
            if raw is None:
                return None
            auth = self.get_validated_token(django_request, raw)
        except ConnectAuthError as error:
            log_refusal(django_request, error)
            django_request._connect_error = error  # type: ignore[attr-defined]
            raise ConnectAuthenticationFailed(error, error_body(error)) from error
        return self.get_user(auth), auth

    def get_raw_token(self, request: HttpRequest) -> tuple[str, str] | None:
        """``(token, source)`` or ``None`` when the request has no Connect JWT."""
        return get_raw_token(request)

    def get_validated_token(self, request: HttpRequest, raw: tuple[str, str]) -> ConnectAuth:
        return verify_request(
            request,
            context=self.context_tokens,
            token=raw,
            allow_disabled=self.allow_disabled_tenants,
        )

    def get_user(self, auth: ConnectAuth) -> ConnectUser:
        return auth.user

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request._request, "_connect_error", None)
        return www_authenticate(error)


class ConnectContextJWTAuthentication(ConnectJWTAuthentication):
    """Context JWTs only (``qsh: "context-qsh"``)."""

    context_tokens = True
    connect_token_kind = "context"


def token_missing_failure(request: Request) -> ConnectAuthenticationFailed:
    """The refusal for a request that no authentication class accepted and that
    carries no Connect JWT: ``token_missing`` with its hint, like every other
    refusal, instead of DRF's generic "credentials were not provided"."""
    django_request: HttpRequest = request._request
    error = ConnectAuthError("token_missing", "The request carries no Connect JWT.")
    log_refusal(django_request, error)
    django_request._connect_error = error  # type: ignore[attr-defined]
    return ConnectAuthenticationFailed(error, error_body(error))


class ForgeInvocationAuthentication(BaseAuthentication):
    """Forge Remote invocations: ``Authorization: Bearer <Forge Invocation Token>``.

    ::

        class IssuePanel(APIView):
            authentication_classes = [ForgeInvocationAuthentication]

            def get(self, request):
                request.user.account_id     # the user in session, None for the app
                request.user.installation   # the ForgeInstallation row
                request.auth                # the ForgeContext (claims, apiBaseUrl, ...)

    Steps: :meth:`get_raw_token` (``None`` without ``Authorization: Bearer``:
    not ours) -> :meth:`get_validated_token` (the verified
    :class:`~django_atlassian_connect.forge.ForgeContext`; nothing written) ->
    :meth:`get_user` (records the invocation through :meth:`get_installation`,
    then the :class:`~django_atlassian_connect.forge.principal.ForgePrincipal`).
    ``request.forge`` and ``request.forge_installation`` are set as by
    :func:`~django_atlassian_connect.decorators.forge_invocation_required`.
    """

    #: What a view using this class declares it takes (read by connect_doctor).
    connect_token_kind = "forge"

    def authenticate(self, request: Request) -> tuple[ForgePrincipal, ForgeContext] | None:
        django_request: HttpRequest = request._request
        try:
            raw = self.get_raw_token(django_request)
            if raw is None:
                return None
            context = self.get_validated_token(django_request, raw)
            user = self.get_user(context, django_request)
        except ForgeAuthError as error:
            invocation.log_refusal(django_request, error)
            django_request._connect_error = error  # type: ignore[attr-defined]
            raise ConnectAuthenticationFailed(error, error_body(error)) from error
        django_request.forge = context  # type: ignore[attr-defined]
        django_request.forge_installation = user.installation  # type: ignore[attr-defined]
        return user, context

    def get_raw_token(self, request: HttpRequest) -> str | None:
        """The FIT, or ``None`` when the request has no ``Authorization: Bearer``.

        A Bearer header that is not exactly one token is ours and refused
        (``token_malformed``).
        """
        scheme, _, _ = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return invocation.get_bearer_token(request)

    def get_validated_token(self, request: HttpRequest, raw: str) -> ForgeContext:
        """Verify the FIT (spec 3.5) into a :class:`ForgeContext`; writes nothing.

        ``raw`` is the token :meth:`get_raw_token` found; ``verify_invocation``
        reads it from the same header, with the ``x-forge-oauth-*`` tokens and
        the trace id that come along.
        """
        return invocation.verify_invocation(request)

    def get_installation(
        self, context: ForgeContext, request: HttpRequest | None = None
    ) -> ForgeInstallation:
        """Record the verified invocation (installation row, newer system token)."""
        return admit(context, request)

    def get_user(self, context: ForgeContext, request: HttpRequest | None = None) -> ForgePrincipal:
        """The principal (or the app, without one) of the recorded installation."""
        return ForgePrincipal(context.principal, self.get_installation(context, request))

    def authenticate_header(self, request: Request) -> str:
        # Also answered when no class authenticated the request: 401, not 403.
        return bearer_challenge(getattr(request._request, "_connect_error", None))


def forge_token_missing_failure(request: Request) -> ConnectAuthenticationFailed:
    """The refusal for a request no authentication class accepted and that
    carries no Forge Invocation Token: ``token_missing`` with the Forge hint,
    like every other refusal (for a permission class to raise)."""
    django_request: HttpRequest = request._request
    error = ForgeAuthError("token_missing", "The request carries no Forge Invocation Token.")
    invocation.log_refusal(django_request, error)
    django_request._connect_error = error  # type: ignore[attr-defined]
    return ConnectAuthenticationFailed(error, error_body(error))
