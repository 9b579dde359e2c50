"""Errors with stable codes.

One base, :class:`ConnectError`: a registered ``code`` (see
:mod:`django_atlassian_connect.codes`), a ``detail`` naming the cause and a
``hint`` naming the fix (both default to the registry's text), and the
context of the failure as attributes (as django-anymail's errors carry
theirs)::

    raise ConnectClientError("url_not_allowed", detail, tenant=tenant, url=url)

    except ConnectClientError as exc:
        exc.code, exc.detail, exc.hint, exc.tenant, exc.url, exc.context

Domain errors are raised without HTTP semantics: nothing here builds a
response or reads a request. Views and DRF classes turn refusals into
responses (:mod:`~django_atlassian_connect.responses`,
:mod:`~django_atlassian_connect.authentication`). The two errors that are also
a library's exception are defined here too, as django-anymail and
simplejwt define theirs: :class:`ConnectAPIError` (also a
``requests.HTTPError``) and :class:`ConnectAuthenticationFailed` (DRF's
``AuthenticationFailed``). So this module imports ``requests`` and
``rest_framework.exceptions`` and nothing of the package but
:mod:`~django_atlassian_connect.codes`: it is the floor, every module may
import it.

No message or ``repr()`` here ever contains a shared secret or a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import requests
from rest_framework import exceptions as drf_exceptions

from .codes import (
    API_CODES,
    CLIENT_CODES,
    IMPERSONATION_CODES,
    OAUTH_ERROR_CODES,
    REFUSAL_CODES,
    Code,
    api_code_for_status,
)
from .codes import CODES as REGISTRY

__all__ = [
    "CODES",
    "RETRY_AFTER",
    "ConnectAPIError",
    "ConnectAuthError",
    "ConnectAuthenticationFailed",
    "ConnectClientError",
    "ConnectError",
    "ConnectNetworkError",
    "ForgeAuthError",
    "ImpersonationError",
    "RateLimitBackoffError",
    "SecretDecryptionError",
    "product_message",
]

#: Seconds a 503 (``key_unavailable``, ``database_unavailable``) asks the caller to wait.
RETRY_AFTER = 30

#: Deprecated: ``code -> (HTTP status, default hint)`` of the inbound refusal
#: codes, as before the registry. Use :data:`django_atlassian_connect.codes.CODES`.
CODES: Mapping[str, tuple[int, str]] = MappingProxyType(
    {code: (entry.status, entry.hint) for code, entry in REGISTRY.items() if code in REFUSAL_CODES}
)

# Names a context keyword may not take: they are the error's own.
_RESERVED = frozenset({"args", "code", "context", "detail", "hint", "status_code"})


def _restore(cls: type[ConnectError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error without calling ``__init__`` (whose first argument is a code)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConnectError(Exception):
    """Base class of every error this package raises on purpose.

    ``ConnectError(code, detail=None, *, hint=None, **context)``: ``code`` must
    be registered in :data:`django_atlassian_connect.codes.CODES` (and be one
    of the class's codes, see ``codes``), otherwise :class:`ValueError`.
    ``detail`` and ``hint`` default to the registry's text. Each ``context``
    keyword becomes an attribute and is kept in :attr:`context`.
    ``str()`` is the detail and the hint; ``repr()`` shows the code, the detail
    and non-secret context only.
    """

    #: The codes this class may carry (``None``: any registered code).
    codes: ClassVar[frozenset[str] | None] = None
    #: Context attributes safe to show in ``repr()`` (never a secret, token or response).
    repr_fields: ClassVar[tuple[str, ...]] = ()

    code: str
    detail: str
    hint: str
    context: dict[str, Any]

    def __init__(
        self, code: str, detail: str | None = None, *, hint: str | None = None, **context: Any
    ) -> None:
        entry = REGISTRY.get(code) if isinstance(code, str) else None
        if entry is None:
            raise ValueError(
                f"unknown error code {code!r}: register it in django_atlassian_connect.codes.CODES"
            )
        if self.codes is not None and code not in self.codes:
            raise ValueError(f"{type(self).__name__} does not carry the code {code!r}")
        reserved = sorted(_RESERVED & context.keys())
        if reserved:
            raise TypeError(f"context keywords may not be named {', '.join(reserved)}")
        self.code = code
        self.detail = entry.detail if detail is None else detail
        self.hint = self._default_hint(entry) if hint is None else hint
        super().__init__(self.detail)
        self.context = dict(context)
        for name, value in context.items():
            setattr(self, name, value)

    @classmethod
    def _default_hint(cls, entry: Code) -> str:
        return entry.hint

    @property
    def status_code(self) -> int:
        """The code's HTTP status from the registry (``0``: none of its own)."""
        return REGISTRY[self.code].status

    def __str__(self) -> str:
        return f"{self.detail} {self.hint}" if self.hint else self.detail

    def __repr__(self) -> str:
        fields = [f"code={self.code!r}", f"detail={self.detail!r}"]
        for name in self.repr_fields:
            value = getattr(self, name, None)
            if value is not None:
                fields.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(fields)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, self.__dict__.copy()))


class ConnectAuthError(ConnectError):
    """A token or lifecycle delivery was refused (an inbound refusal code).

    ``code`` is stable (see ``docs/troubleshooting``); ``status_code`` is the
    status of the answer (401, 413 or 503). ``client_key`` (``None`` when not
    known) and the other context feed logs and diagnostics; ``extra`` is the
    context without ``client_key``.
    """

    codes = REFUSAL_CODES
    repr_fields: ClassVar[tuple[str, ...]] = ("client_key",)

    client_key: str | None = None

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        hint: str | None = None,
        client_key: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, detail, hint=hint, client_key=client_key, **context)

    @property
    def extra(self) -> dict[str, Any]:
        """The context other than ``client_key`` (kept for compatibility)."""
        return {k: v for k, v in self.context.items() if k != "client_key"}


class ForgeAuthError(ConnectAuthError):
    """A Forge invocation was refused: the same codes as Connect refusals,
    with the registry's Forge hint (``Code.forge_hint``) by default.

    Context: ``installation_id`` and ``trace_id`` when known (never a token).
    """

    @classmethod
    def _default_hint(cls, entry: Code) -> str:
        return entry.forge_hint or entry.hint


class SecretDecryptionError(ConnectError):
    """A stored secret could not be decrypted with any configured key.

    Its code is always ``secret_undecryptable``, so the first argument is the
    detail: ``SecretDecryptionError(detail=None, *, hint=None, **context)``.
    """

    codes = frozenset({"secret_undecryptable"})

    def __init__(
        self, detail: str | None = None, *, hint: str | None = None, **context: Any
    ) -> None:
        super().__init__("secret_undecryptable", detail, hint=hint, **context)


class ConnectClientError(ConnectError):
    """An outbound call failed.

    Raised as such when nothing was sent: ``url_not_allowed`` (the URL is
    outside the tenant's baseUrl), ``tenant_not_installed``,
    ``secret_missing``. Subclasses cover the answers:
    :class:`ConnectAPIError` (the product's error status) and
    :class:`ImpersonationError` (the user token grant).

    Always has ``method``, ``url``, ``status`` (the HTTP status received),
    ``response`` (a ``requests.Response``) and ``tenant``: ``None`` when not
    known or nothing was sent or received.
    """

    codes = CLIENT_CODES
    repr_fields: ClassVar[tuple[str, ...]] = ("method", "status")

    method: str | None = None
    url: str | None = None
    status: int | None = None
    response: Any = None
    tenant: Any = None


class ConnectNetworkError(ConnectClientError):
    """An outbound call got no usable answer: the connection failed, timed out or broke off.

    Its code is ``network_error``. Every session of this package raises it in
    place of the ``requests`` exception, as a class made from this one and the
    original's type (as django-anymail's ``AnymailRequestsAPIError``), so
    ``except ConnectClientError`` is enough and ``except requests.Timeout``
    still works. Context: ``method``, ``url`` (without its query), ``host``
    and ``reason`` (the failure's type and the socket's words). The message
    never holds the request's body or headers; ``__cause__`` is the original
    exception with its ``request`` (whose body may hold a client secret) removed.
    """

    codes = frozenset({"network_error"})
    repr_fields: ClassVar[tuple[str, ...]] = ("method", "host", "reason")

    host: str | None = None
    reason: str = ""

    def __init__(
        self, detail: str | None = None, *, hint: str | None = None, **context: Any
    ) -> None:
        super().__init__("network_error", detail, hint=hint, **context)


class RateLimitBackoffError(ConnectClientError):
    """Not sent: the tenant's site answered 429, and the wait every process keeps
    for it (:mod:`~django_atlassian_connect.http.ratelimit`) outlasts ``MAX_RETRY_AFTER``.

    Its code is ``rate_limited_backoff``. Context: ``client_key``,
    ``backoff_until`` (aware datetime: retry then), ``limited_at`` (when the
    429 came), ``wait`` (seconds left), ``reason`` (``RateLimit-Reason``, or
    ``""``), and ``tenant``, ``method``, ``url`` where known.
    """

    codes = frozenset({"rate_limited_backoff"})
    repr_fields: ClassVar[tuple[str, ...]] = ("method", "client_key", "reason")

    client_key: str | None = None
    backoff_until: Any = None
    limited_at: Any = None
    wait: float = 0.0
    reason: str = ""

    def __init__(
        self, detail: str | None = None, *, hint: str | None = None, **context: Any
    ) -> None:
        super().__init__("rate_limited_backoff", detail, hint=hint, **context)


class ImpersonationError(ConnectClientError):
    """The OAuth 2.0 JWT-bearer grant (acting as a user) failed.

    ``code`` is one of ours (``oauth_client_id_missing``,
    ``authorization_server_unavailable``, ``token_response_invalid``) or the
    OAuth error the token endpoint answered (``unauthorized_client``,
    ``invalid_grant``, ...; see :data:`~django_atlassian_connect.codes.OAUTH_ERROR_CODES`).
    An error string we do not register becomes the code ``oauth_error``.
    ``oauth_error`` (and ``oauth_error_description``) keep what the server
    said; ``account_id`` and ``scopes`` name the grant asked for, where known.
    Besides the attributes of :class:`ConnectClientError` (``method``,
    ``url``, ``status``, ``response`` and ``tenant`` of the token request).
    """

    codes = IMPERSONATION_CODES
    repr_fields: ClassVar[tuple[str, ...]] = ("method", "status", "oauth_error", "account_id")

    oauth_error: str | None = None
    oauth_error_description: str | None = None
    account_id: str | None = None
    scopes: str | None = None

    @classmethod
    def from_oauth_error(
        cls, oauth_error: str, detail: str | None = None, **context: Any
    ) -> ImpersonationError:
        """The error for an OAuth error string from the token endpoint.

        A registered one is the code; any other maps to ``oauth_error``, and
        the server's string stays in the ``oauth_error`` attribute either way.
        """
        code = oauth_error if oauth_error in OAUTH_ERROR_CODES else "oauth_error"
        return cls(code, detail, oauth_error=oauth_error, **context)


class ConnectAPIError(ConnectClientError, requests.HTTPError):
    """The product answered an outbound call with an error status.

    ``ConnectAPIError(detail=None, *, response, tenant=None, hint=None, **context)``:
    the code follows from the status (``api_unauthorized`` 401,
    ``api_forbidden`` 403, ``api_not_found`` 404, ``api_rate_limited`` 429,
    ``api_error`` for the rest), so the first argument is the detail.
    Carries ``method``, ``url``, ``status`` (also ``status_code``),
    ``response``, ``request``, ``tenant``, ``product_message`` (what the
    product's body says, ``""`` if nothing readable) and a ``hint`` naming the
    likely causes. Also a :class:`requests.HTTPError`.
    """

    codes = API_CODES

    product_message: str = ""

    def __init__(
        self,
        detail: str | None = None,
        *,
        response: requests.Response,
        tenant: Any = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        request = response.request
        if request is not None:
            context.setdefault("method", (request.method or "GET").upper())
            context.setdefault("url", request.url)
        context.setdefault("product_message", product_message(response))
        super().__init__(
            api_code_for_status(response.status_code),
            detail,
            hint=hint,
            status=response.status_code,
            response=response,
            tenant=tenant,
            **context,
        )
        # requests.HTTPError's own attribute; RequestException.__init__ left it None.
        self.request = request

    @property
    def status_code(self) -> int:
        """The status the product answered (the ``api_*`` code's own may be 0)."""
        return int(self.status or 0)


def product_message(response: requests.Response) -> str:
    """What the product's error body says (its message, or short plain text), or ``""``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "errorMessages", "detail", "error"):
            if body.get(key):
                return str(body[key])[:300]
    text = response.text if isinstance(response.text, str) else ""
    return text[:300] if "<" not in text else ""


class ConnectAuthenticationFailed(drf_exceptions.AuthenticationFailed):
    """DRF's answer to a refused token: our status, code and body.

    ``error`` is the :class:`ConnectAuthError`; ``body`` the
    ``{"detail", "code", "hint"}`` answer built from it.
    """

    def __init__(self, error: ConnectAuthError, body: dict[str, str]) -> None:
        super().__init__(detail=body, code=error.code)
        self.status_code = error.status_code
        self.error = error
        if error.status_code == 503:
            # DRF's exception handler turns ``wait`` into ``Retry-After``.
            self.wait = RETRY_AFTER
