"""DRF authentication classes for Connect JWTs.

``authenticate()`` is split into small steps a subclass can override
(``get_raw_token`` -> ``get_validated_token`` -> ``get_user``).

- :class:`ConnectJWTAuthentication`: request tokens, whose qsh must be the
  hash of this request (iframe pages, webhooks, descriptor URLs).
- :class:`ConnectContextJWTAuthentication`: context tokens only
  (``AP.context.getToken()`` from your own front end).

A request without a Connect token is not ours: ``None``, so other
authentication classes may run. A Connect token that fails verification is a
401 with ``WWW-Authenticate: JWT realm="<app key>"`` and
``{"detail", "code", "hint"}``.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .exceptions import ConnectAuthError
from .inbound import ConnectAuth, ConnectUser, get_raw_token, log_refusal, verify_request
from .responses import error_body, www_authenticate

__all__ = [
    "ConnectAuthenticationFailed",
    "ConnectContextJWTAuthentication",
    "ConnectJWTAuthentication",
]


class ConnectAuthenticationFailed(drf_exceptions.AuthenticationFailed):
    """DRF's answer to a refused Connect token: our status, code and body.

    Also importable as ``django_atlassian_connect.exceptions.ConnectAuthenticationFailed``.
    ``error`` is the :class:`~django_atlassian_connect.exceptions.ConnectAuthError`.
    """

    def __init__(self, error: ConnectAuthError, body: dict[str, str]) -> None:
        super().__init__(detail=body, code=error.code)
        self.status_code = error.status_code
        self.error = error


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
