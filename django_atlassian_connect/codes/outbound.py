"""Outbound codes: stored secrets, calls refused before sending, the product's
errors, acting as a user."""

from __future__ import annotations

from .base import Code

# -- stored secrets ------------------------------------------------------------------------------

SECRETS: dict[str, Code] = {
    "secret_undecryptable": Code(
        0,
        "A stored secret could not be decrypted with any configured encryption key.",
        "Every key that encrypted a stored secret must stay listed in "
        'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"] (or SECRET_KEY_FALLBACKS) until '
        "'manage.py connect_reencrypt' has run.",
    ),
}

# -- outbound: refused before anything was sent -------------------------------------------------

CLIENT: dict[str, Code] = {
    "url_not_allowed": Code(
        0,
        "The URL is not under the tenant's baseUrl, or its path has a dot segment or an "
        "encoded '/' or '.' (%2F, %2E); nothing was sent.",
        "Use a path relative to the baseUrl, e.g. '/rest/api/3/myself'; pass values that "
        "contain '/' or '.' as query parameters, not percent-encoded in a path segment.",
    ),
    "rate_limited_backoff": Code(
        0,
        "The tenant's site answered 429 and every process waits before calling it again; "
        "nothing was sent.",
        "The site's rate limit (RateLimit-Reason says which) was hit: the wait is longer "
        "than MAX_RETRY_AFTER. Retry after the error's backoff_until; lower your call rate "
        "or spread the work over time (see ConnectClient(tenant).rate_limit).",
    ),
    "network_error": Code(
        0,
        "The call got no usable answer: the connection failed, timed out or broke off.",
        "Check that the host is reachable from this server (DNS, firewall, proxy "
        "settings) and answers within HTTP_TIMEOUT; then retry. Idempotent calls were "
        "retried already.",
    ),
    "tenant_not_installed": Code(
        0,
        "The app is not installed on this site; nothing was sent.",
        "Calls are refused until the site installs the app again.",
    ),
    "forge_token_expired": Code(
        0,
        "No fresh Forge app system token is stored for this installation; nothing was sent.",
        "Tokens arrive only with Forge invocations (x-forge-oauth-system): subscribe an "
        "endpoint with appSystemToken enabled to an hourly scheduledTrigger and to "
        "avi:forge:installed:app; a job should retry after the next trigger.",
    ),
    "forge_user_token_unavailable": Code(
        0,
        "No token acting as this user could be had; nothing was sent.",
        "The invocation's x-forge-oauth-user is for its own principal only; for another "
        "user the offlineUserAuthToken mutation needs a fresh app system token and "
        "impersonation allowed in the manifest: permissions.scopes in map form with "
        "allowImpersonation: true on the scopes used (FORGE_OFFLINE_IMPERSONATION on, then "
        "manage.py forge_manifest and a deploy the admin approves; read:app-user-token alone "
        "is not enough), for an active user with access to the app (see the errors the "
        "gateway returned, in gateway_messages).",
    ),
    # Service accounts (OAuth 2.0 client credentials, credentials.ServiceAccountClient).
    "service_account_refused": Code(
        0,
        "The authorization server refused the service account's client credentials; "
        "nothing was sent to the product.",
        "Check the client id and secret of the service account's OAuth 2.0 credential "
        "(admin.atlassian.com, Directory > Service accounts): the secret is shown once, "
        "credentials expire and can be revoked there; the error attribute oauth_error "
        "names what the server said.",
    ),
    "service_account_unavailable": Code(
        0,
        "No token could be had for the service account (the authorization server could "
        "not be reached, failed, or did not answer with a token); nothing was sent.",
        "Retried already: try again later, and check OAUTH_AUTH_URL.",
    ),
    "secret_missing": Code(
        0,
        "The installation has no current shared secret; nothing was sent.",
        "It arrives with the 'installed' callback: reinstall the app on the site.",
    ),
    # OAuth 2.0 (3LO): a user's linked Atlassian account (threelo.grants, threelo.client).
    "oauth_not_configured": Code(
        0,
        "OAuth 2.0 (3LO) is not configured; nothing was sent.",
        'Set ATLASSIAN_CONNECT["OAUTH_CLIENT_ID"] and ["OAUTH_CLIENT_SECRET"] to the '
        "client id and secret of your OAuth 2.0 integration in the Atlassian developer console.",
    ),
    "oauth_not_linked": Code(
        0,
        "This user has not linked an Atlassian account; nothing was sent.",
        "Send the user to the connect view (/oauth/connect) to link their Atlassian account.",
    ),
    "oauth_site_not_linked": Code(
        0,
        "The linked Atlassian account gave no access to this site; nothing was sent.",
        "Use a cloudId from the user's linked sites (accessible-resources), or send the "
        "user to the connect view again to grant access to this site.",
    ),
    "oauth_grant_revoked": Code(
        0,
        "The user's link to their Atlassian account was revoked; nothing was sent.",
        "The user must link the account again (the connect view asks for consent). Atlassian "
        "refused the refresh token (invalid_grant): the user revoked the app's access, the "
        "refresh token went unused for 90 days or is past 365 days since consent, or a "
        "rotated refresh token was reused after its 10-minute window.",
    ),
    "oauth_grant_expired": Code(
        0,
        "The user's link to their Atlassian account has expired; nothing was sent.",
        "The user must link the account again (the connect view). A grant without a refresh "
        "token ends with its access token: add offline_access to OAUTH_SCOPES. Refresh "
        "tokens end 90 days after their last use and 365 days after consent: run the "
        "refresh_oauth_grants housekeeping job to keep used grants alive.",
    ),
    "oauth_token_failed": Code(
        0,
        "Atlassian's authorization server did not issue tokens.",
        "See the error attributes oauth_error and status. A 401 (access_denied, "
        "invalid_client): check OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET; a 5xx or a network "
        "error: try again later, the stored refresh token is still valid.",
    ),
}

# -- outbound: the product answered with an error status ----------------------------------------

API: dict[str, Code] = {
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

IMPERSONATION: dict[str, Code] = {
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
