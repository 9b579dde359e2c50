"""The one registry of error codes: default detail, hint and HTTP status.

Every error this package raises on purpose has a ``code`` registered here
(:class:`~django_atlassian_connect.exceptions.ConnectError` refuses any
other). A :class:`Code` holds:

- ``status``: the HTTP status the code stands for. For inbound refusals it
  is the status of our answer (401, 413, 503); for ``api_*`` codes the status
  the product answered. ``0`` means the code has no status of its own (an
  outbound call that was never sent, or whose failure has no one status:
  the error's ``status`` attribute then carries what was actually received,
  if anything).
- ``detail``: the default cause, used when a raise site gives none (raise
  sites usually give a more precise one).
- ``hint``: the default fix.

The codes are stable: logs, response bodies and ``connect_doctor`` use them.
No text here names a secret or a token value. This module imports nothing
of the package, so everything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "API_CODES",
    "CLIENT_CODES",
    "CODES",
    "IMPERSONATION_CODES",
    "OAUTH_ERROR_CODES",
    "REFUSAL_CODES",
    "Code",
    "api_code_for_status",
]


@dataclass(frozen=True)
class Code:
    """A registered error code: HTTP status (``0`` = none), default detail and hint."""

    status: int
    detail: str
    hint: str


# -- inbound: a token or lifecycle delivery refused (our answer's status) ---------------------

_REFUSALS: dict[str, Code] = {
    "token_missing": Code(
        401,
        "The request carries no Connect JWT.",
        "Send the Connect JWT as 'Authorization: JWT <token>', a 'jwt' query "
        "parameter or a 'jwt' form field.",
    ),
    "token_malformed": Code(
        401,
        "The token cannot be read as a JWT.",
        "The token is not a JWT (three base64url parts with JSON objects); "
        "check how it was copied or built.",
    ),
    "token_ambiguous": Code(
        401,
        "The request carries different tokens in more than one place.",
        "Send the token in one place only (header, query or form field).",
    ),
    "alg_not_allowed": Code(
        401,
        "The token's algorithm is not the one this endpoint accepts.",
        "Product tokens are HS256 (signed installs RS256); the algorithm is "
        "fixed by the endpoint, not read from the token.",
    ),
    "tenant_unknown": Code(
        401,
        "The token's issuer (iss) is not the clientKey of any installation.",
        "No installation has this clientKey (iss): install the app on the "
        "site again, or check that the token belongs to this app.",
    ),
    "tenant_uninstalled": Code(
        401,
        "The token belongs to an installation that was uninstalled.",
        "The app was uninstalled from this site; it must be installed again.",
    ),
    "tenant_disabled": Code(
        401,
        "The token belongs to an installation the product disabled.",
        "The app is disabled on this site; enable it in 'Manage apps'.",
    ),
    "signature_invalid": Code(
        401,
        "The token's signature does not verify with the installation's shared secret.",
        "The token was not signed with this installation's shared secret "
        "(or was altered); sign with the secret of the latest 'installed' "
        "callback.",
    ),
    "secret_retired": Code(
        401,
        "The token was signed with a retired shared secret.",
        "The token was signed with a shared secret that a later 'installed' "
        "callback replaced; use the current secret.",
    ),
    "token_expired": Code(
        401,
        "The token has expired.",
        "Reload the page for a fresh token; if this repeats, check the "
        "server clocks (NTP) or raise LEEWAY.",
    ),
    "token_not_yet_valid": Code(
        401,
        "The token is not valid yet.",
        "The token's iat/nbf is in the future: the clocks of the signer and "
        "of this server disagree; sync them (NTP).",
    ),
    "claim_missing": Code(
        401,
        "The token lacks a required claim.",
        "The token lacks a required claim (iss, iat, exp, qsh); build it "
        "with a Connect JWT library.",
    ),
    "qsh_missing": Code(
        401,
        "The token has no qsh claim.",
        "Connect tokens must carry a qsh claim; compute it over the method, "
        "path and query of this request.",
    ),
    "qsh_mismatch": Code(
        401,
        "The token's qsh is not the hash of this request.",
        "The token's qsh was computed for another request: a token is valid "
        "only for the method, path and query it was made for.",
    ),
    "context_qsh_not_allowed": Code(
        401,
        "A context token (qsh 'context-qsh') was sent to a view that does not take one.",
        "Context tokens (qsh 'context-qsh') are only accepted by views that "
        "opt in; pages, webhooks and lifecycle callbacks need the request "
        "token the product sent.",
    ),
    "context_qsh_required": Code(
        401,
        "This view takes context tokens only, and the token is not one.",
        "This endpoint takes context tokens only: get one with "
        "AP.context.getToken() in the front end.",
    ),
    "audience_invalid": Code(
        401,
        "The install token's audience (aud) is not this app's URL.",
        "The install token was made for another app URL; BASE_URL must equal "
        "the baseUrl in the descriptor the product installed.",
    ),
    "issuer_mismatch": Code(
        401,
        "The token's issuer (iss) is not the clientKey of the body.",
        "The token's iss must equal the clientKey in the body.",
    ),
    "key_invalid": Code(
        401,
        "The install token's key id (kid) does not name an Atlassian install key.",
        "The install token's kid does not name an Atlassian install key: it "
        "was not signed by Atlassian.",
    ),
    "key_unavailable": Code(
        503,
        "The Atlassian install key could not be fetched.",
        "The Atlassian install key could not be fetched; nothing was changed. "
        "Retry the installation in a moment.",
    ),
    "product_host_not_allowed": Code(
        401,
        "The site's baseUrl is not on ALLOWED_PRODUCT_HOSTS.",
        "The site's baseUrl is not on ALLOWED_PRODUCT_HOSTS; add its host "
        "pattern if the site is genuine.",
    ),
    "app_key_mismatch": Code(
        401,
        "The lifecycle body's key is not this app's APP_KEY.",
        "The body's key is not this app's APP_KEY: the callback was meant for "
        "another app or APP_KEY differs from the descriptor.",
    ),
    "payload_invalid": Code(
        401,
        "The lifecycle body is not a valid lifecycle payload.",
        "The lifecycle body must be a JSON object with string fields key, "
        "clientKey and baseUrl (and sharedSecret for 'installed').",
    ),
    "payload_too_large": Code(
        413,
        "The lifecycle body is too large.",
        "The lifecycle body exceeds MAX_LIFECYCLE_BODY.",
    ),
    "token_replayed": Code(
        401,
        "The signed lifecycle token was already used, or is older than one already accepted.",
        "A signed lifecycle token is accepted once, and never after a newer one "
        "for the same installation: this is a replay. If the site really sent it, "
        "install or uninstall again from the site (it signs a fresh token).",
    ),
    "database_unavailable": Code(
        503,
        "The database failed while storing the callback.",
        "The database failed while storing the callback; nothing was changed. "
        "Retry in a moment, and check the database.",
    ),
}

# -- stored secrets ------------------------------------------------------------------------------

_SECRETS: dict[str, Code] = {
    "secret_undecryptable": Code(
        0,
        "A stored secret could not be decrypted with any configured encryption key.",
        "Every key that encrypted a stored secret must stay listed in "
        'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"] (or SECRET_KEY_FALLBACKS) until '
        "'manage.py connect_reencrypt' has run.",
    ),
}

# -- outbound: refused before anything was sent -------------------------------------------------

_CLIENT: dict[str, Code] = {
    "url_not_allowed": Code(
        0,
        "The URL is not under the tenant's baseUrl; nothing was sent.",
        "Use a path relative to the baseUrl, e.g. '/rest/api/3/myself'.",
    ),
    "tenant_not_installed": Code(
        0,
        "The app is not installed on this site; nothing was sent.",
        "Calls are refused until the site installs the app again.",
    ),
    "secret_missing": Code(
        0,
        "The installation has no current shared secret; nothing was sent.",
        "It arrives with the 'installed' callback: reinstall the app on the site.",
    ),
}

# -- outbound: the product answered with an error status ----------------------------------------

_API: dict[str, Code] = {
    "api_unauthorized": Code(
        401,
        "The product refused the call's credentials (401).",
        "As the app: the shared secret may be stale (a missed 'installed' callback), the "
        "clocks may disagree, or a proxy changed the URL after signing. As a user: the "
        "access token was refused; the next call gets a new one.",
    ),
    "api_forbidden": Code(
        403,
        "The product forbade the call (403).",
        "A scope is missing from the descriptor (SCOPES; admin resources need ADMIN), or "
        "the caller lacks the product permission. After changing SCOPES, the app must be "
        "upgraded on the site.",
    ),
    "api_not_found": Code(
        404,
        "The product found nothing at this URL (404).",
        "Check the path is relative to the tenant's baseUrl and that the resource exists "
        "and is visible to the caller.",
    ),
    "api_rate_limited": Code(
        429,
        "The product rate-limited the call (429).",
        "Retries are exhausted or Retry-After exceeded MAX_RETRY_AFTER: slow down and retry later.",
    ),
    "api_error": Code(
        0,
        "The product answered the call with an error status.",
        "See the status and the product's message; a 5xx is the product failing: retry later.",
    ),
}

# -- outbound: acting as a user (OAuth 2.0 JWT-bearer grant) --------------------------------------

_IMPERSONATION: dict[str, Code] = {
    "oauth_client_id_missing": Code(
        0,
        "The installation has no oauthClientId, so it cannot act as a user.",
        "The installation has no oauthClientId: it comes in the 'installed' payload of "
        "apps with ACT_AS_USER; upgrade or reinstall the app on the site.",
    ),
    "authorization_server_unavailable": Code(
        0,
        "The authorization server could not be reached or failed.",
        "The authorization server could not be reached or failed; retried already. Try "
        "again later; check AUTHORIZATION_SERVER_URL.",
    ),
    "token_response_invalid": Code(
        0,
        "The authorization server's answer was not a token response.",
        "The authorization server's answer was not a token response.",
    ),
    # The errors the token endpoint answers (RFC 6749 section 5.2, and the two of
    # section 4.1.2.1 that servers also send there). Any other error string the
    # server sends becomes ``oauth_error``; the raw string stays on the error.
    "invalid_request": Code(
        0,
        "The authorization server found the token request malformed.",
        "The grant request lacks a field or repeats one; this is a bug in how the "
        "request was built, not a setting.",
    ),
    "invalid_client": Code(
        0,
        "The authorization server does not know the client (oauthClientId).",
        "The oauthClientId is stale or unknown: reinstall or upgrade the app on the site "
        "so that a fresh 'installed' callback arrives.",
    ),
    "invalid_grant": Code(
        0,
        "The authorization server refused the assertion.",
        "The authorization server refused the assertion: the accountId may not exist on "
        "this site, the oauthClientId or shared secret may be stale (a newer 'installed' "
        "callback missed), or the clocks disagree.",
    ),
    "unauthorized_client": Code(
        0,
        "The app may not act as a user on this site.",
        "ACT_AS_USER missing from the descriptor scopes, or the installation was not "
        "upgraded after adding it: add ACT_AS_USER to SCOPES and reinstall/upgrade the "
        "app on the site.",
    ),
    "unsupported_grant_type": Code(
        0,
        "The authorization server does not support the JWT-bearer grant.",
        "Check AUTHORIZATION_SERVER_URL: it must be Atlassian's Connect authorization "
        "server, which supports the JWT-bearer grant.",
    ),
    "invalid_scope": Code(
        0,
        "The authorization server refused the requested scopes.",
        "Ask only for scopes the descriptor declares (READ, WRITE, ...).",
    ),
    "access_denied": Code(
        0,
        "The authorization server denied the grant.",
        "The site or the user denies the app acting as this user; check that the user "
        "can use the site and that the app is installed and enabled.",
    ),
    "server_error": Code(
        0,
        "The authorization server failed.",
        "The authorization server failed; try again later.",
    ),
    "temporarily_unavailable": Code(
        0,
        "The authorization server is temporarily unavailable.",
        "The authorization server is overloaded or down for maintenance; try again later.",
    ),
    "oauth_error": Code(
        0,
        "The authorization server refused the grant with an error of its own.",
        "The error attribute oauth_error names what the server said; see its "
        "error_description and the authorization server's documentation.",
    ),
}

#: Every registered code.
CODES: Final[dict[str, Code]] = {
    **_REFUSALS,
    **_SECRETS,
    **_CLIENT,
    **_API,
    **_IMPERSONATION,
}

#: Inbound refusals (:class:`~django_atlassian_connect.exceptions.ConnectAuthError`):
#: the codes of 401/413/503 answers and ``connect_doctor``'s error-code table.
REFUSAL_CODES: Final = frozenset(_REFUSALS)
#: Outbound calls refused before sending (``ConnectClientError``).
CLIENT_CODES: Final = frozenset(_CLIENT)
#: The product's error answers (``ConnectAPIError``).
API_CODES: Final = frozenset(_API)
#: Acting as a user (``ImpersonationError``).
IMPERSONATION_CODES: Final = frozenset(_IMPERSONATION)
#: The token endpoint's own error strings we register as codes.
OAUTH_ERROR_CODES: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
    }
)

_API_CODE_FOR_STATUS: Final = {CODES[c].status: c for c in _API if CODES[c].status}


def api_code_for_status(status: int) -> str:
    """The ``api_*`` code of a product error status (``api_error`` for the rest)."""
    return _API_CODE_FOR_STATUS.get(status, "api_error")
