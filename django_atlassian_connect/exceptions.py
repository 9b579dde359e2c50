"""Errors with stable codes.

Domain errors know nothing of HTTP: :class:`ConnectAuthError` carries a
``code`` (stable, documented, used in logs), a ``detail`` naming the cause and
a ``hint`` naming the fix. Views and DRF classes turn them into responses; the
HTTP status for each code lives in :data:`STATUS_FOR_CODE`.

No message here ever contains a shared secret or a whole token.
"""

from __future__ import annotations

from typing import Any

import requests
from rest_framework import exceptions as drf_exceptions

# code -> (HTTP status, default hint)
CODES: dict[str, tuple[int, str]] = {
    "token_missing": (
        401,
        "Send the Connect JWT as 'Authorization: JWT <token>', a 'jwt' query "
        "parameter or a 'jwt' form field.",
    ),
    "token_malformed": (
        401,
        "The token is not a JWT (three base64url parts with JSON objects); "
        "check how it was copied or built.",
    ),
    "token_ambiguous": (
        401,
        "Send the token in one place only (header, query or form field).",
    ),
    "alg_not_allowed": (
        401,
        "Product tokens are HS256 (signed installs RS256); the algorithm is "
        "fixed by the endpoint, not read from the token.",
    ),
    "tenant_unknown": (
        401,
        "No installation has this clientKey (iss): install the app on the "
        "site again, or check that the token belongs to this app.",
    ),
    "tenant_uninstalled": (
        401,
        "The app was uninstalled from this site; it must be installed again.",
    ),
    "tenant_disabled": (
        401,
        "The app is disabled on this site; enable it in 'Manage apps'.",
    ),
    "signature_invalid": (
        401,
        "The token was not signed with this installation's shared secret "
        "(or was altered); sign with the secret of the latest 'installed' "
        "callback.",
    ),
    "secret_retired": (
        401,
        "The token was signed with a shared secret that a later 'installed' "
        "callback replaced; use the current secret.",
    ),
    "token_expired": (
        401,
        "Reload the page for a fresh token; if this repeats, check the "
        "server clocks (NTP) or raise LEEWAY.",
    ),
    "token_not_yet_valid": (
        401,
        "The token's iat/nbf is in the future: the clocks of the signer and "
        "of this server disagree; sync them (NTP).",
    ),
    "claim_missing": (
        401,
        "The token lacks a required claim (iss, iat, exp, qsh); build it "
        "with a Connect JWT library.",
    ),
    "qsh_missing": (
        401,
        "Connect tokens must carry a qsh claim; compute it over the method, "
        "path and query of this request.",
    ),
    "qsh_mismatch": (
        401,
        "The token's qsh was computed for another request: a token is valid "
        "only for the method, path and query it was made for.",
    ),
    "context_qsh_not_allowed": (
        401,
        "Context tokens (qsh 'context-qsh') are only accepted by views that "
        "opt in; pages, webhooks and lifecycle callbacks need the request "
        "token the product sent.",
    ),
    "context_qsh_required": (
        401,
        "This endpoint takes context tokens only: get one with "
        "AP.context.getToken() in the front end.",
    ),
    "audience_invalid": (
        401,
        "The install token was made for another app URL; BASE_URL must equal "
        "the baseUrl in the descriptor the product installed.",
    ),
    "issuer_mismatch": (
        401,
        "The token's iss must equal the clientKey in the body.",
    ),
    "key_invalid": (
        401,
        "The install token's kid does not name an Atlassian install key: it "
        "was not signed by Atlassian.",
    ),
    "key_unavailable": (
        503,
        "The Atlassian install key could not be fetched; nothing was changed. "
        "Retry the installation in a moment.",
    ),
    "product_host_not_allowed": (
        401,
        "The site's baseUrl is not on ALLOWED_PRODUCT_HOSTS; add its host "
        "pattern if the site is genuine.",
    ),
    "app_key_mismatch": (
        401,
        "The body's key is not this app's APP_KEY: the callback was meant for "
        "another app or APP_KEY differs from the descriptor.",
    ),
    "payload_invalid": (
        401,
        "The lifecycle body must be a JSON object with string fields key, "
        "clientKey and baseUrl (and sharedSecret for 'installed').",
    ),
    "payload_too_large": (
        413,
        "The lifecycle body exceeds MAX_LIFECYCLE_BODY.",
    ),
    "token_replayed": (
        401,
        "A signed lifecycle token older than one already accepted for this "
        "installation is a replay; if the site really sent it, install or "
        "uninstall again from the site (it signs a fresh token).",
    ),
    "database_unavailable": (
        503,
        "The database failed while storing the callback; nothing was changed. "
        "Retry in a moment, and check the database.",
    ),
}


class ConnectError(Exception):
    """Base class of every error this package raises on purpose."""


class ConnectAuthError(ConnectError):
    """A token or lifecycle delivery was refused.

    ``code`` is stable (see ``docs/troubleshooting``); ``detail`` says what
    was wrong with this request and ``hint`` what to do about it.
    ``client_key`` and ``extra`` feed logs and diagnostics.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        hint: str | None = None,
        client_key: str | None = None,
        **extra: Any,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.hint = hint if hint is not None else CODES[code][1]
        self.client_key = client_key
        self.extra = extra

    @property
    def status_code(self) -> int:
        return CODES[self.code][0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class SecretDecryptionError(ConnectError):
    """A stored secret could not be decrypted with any configured key."""


class ConnectClientError(ConnectError):
    """An outbound call could not be made; nothing was sent.

    ``code``: ``url_not_allowed`` (the URL is outside the tenant's baseUrl),
    ``tenant_not_installed``, ``secret_missing``.
    """

    def __init__(self, code: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.code = code
        self.hint = hint


class ConnectAPIError(ConnectError, requests.HTTPError):
    """The product answered an outbound call with an error status.

    Carries ``tenant``, ``request``, ``response`` and a ``hint`` naming the
    likely causes. Also a :class:`requests.HTTPError`.
    """

    def __init__(
        self, message: str, *, tenant: Any, response: requests.Response, hint: str = ""
    ) -> None:
        requests.HTTPError.__init__(
            self, f"{message} {hint}".strip(), request=response.request, response=response
        )
        self.tenant = tenant
        self.hint = hint
        self.status_code = response.status_code


class ImpersonationError(ConnectError):
    """The OAuth 2.0 JWT-bearer grant (acting as a user) failed.

    ``code`` is the OAuth error (``unauthorized_client``, ``invalid_grant``,
    ...) or one of ours: ``oauth_client_id_missing``,
    ``authorization_server_unavailable``, ``token_response_invalid``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str = "",
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(f"{message} {hint}".strip())
        self.code = code
        self.hint = hint
        self.response = response


class ConnectAuthenticationFailed(drf_exceptions.AuthenticationFailed):
    """DRF's answer to a refused Connect token: our status, code and body."""

    def __init__(self, error: ConnectAuthError, body: dict[str, str]) -> None:
        super().__init__(detail=body, code=error.code)
        self.status_code = error.status_code
        self.error = error
