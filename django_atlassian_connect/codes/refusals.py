"""Inbound refusals: a token or lifecycle delivery refused (our answer's status)."""

from __future__ import annotations

from .base import Code

# -- inbound: a token or lifecycle delivery refused (our answer's status) ---------------------

REFUSALS: dict[str, Code] = {
    "token_missing": Code(
        401,
        "The request carries no Connect JWT.",
        "Send the Connect JWT as 'Authorization: JWT <token>', a 'jwt' query "
        "parameter or a 'jwt' form field.",
        forge_hint=(
            "Forge sends the Forge Invocation Token as 'Authorization: Bearer <FIT>'; a "
            "call without it did not come from Forge (or a proxy dropped the header)."
        ),
    ),
    "token_malformed": Code(
        401,
        "The token cannot be read as a JWT.",
        "The token is not a JWT (three base64url parts with JSON objects); "
        "check how it was copied or built.",
        forge_hint=(
            "The Bearer value must be one compact JWT (three base64url parts): check that"
            " nothing rewrote the Authorization header."
        ),
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
        forge_hint=(
            "Forge Invocation Tokens are RS256 only; 'none', HS256 and every other "
            "algorithm are refused before any key lookup."
        ),
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
        forge_hint=(
            "The RS256 signature does not verify with the JWKS key named by kid: the "
            "token was altered or forged."
        ),
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
        forge_hint=(
            "A Forge Invocation Token lives about 25 s: check the server clock (NTP); "
            "FORGE_LEEWAY (at most 30 s) covers small skew."
        ),
    ),
    "token_not_yet_valid": Code(
        401,
        "The token is not valid yet.",
        "The token's iat/nbf is in the future: the clocks of the signer and "
        "of this server disagree; sync them (NTP).",
        forge_hint=(
            "The token's iat/nbf is in the future: the clocks disagree; sync this server (NTP)."
        ),
    ),
    "claim_missing": Code(
        401,
        "The token lacks a required claim.",
        "The token lacks a required claim (iss, iat, exp, qsh); build it "
        "with a Connect JWT library.",
        forge_hint=(
            "A Forge Invocation Token carries iss, aud, iat, nbf, exp (25 s after iat), "
            "jti and app.installationId (an installation ARI): this one lacks one, has it "
            "malformed, or claims a longer life than Forge gives."
        ),
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
        forge_hint=(
            "The token was made for another Forge app (or its aud is a list, which Forge "
            "never sends): FORGE_APP_ID must be the manifest's app.id "
            "(ari:cloud:ecosystem::app/<uuid>) of the environment that calls this backend."
        ),
    ),
    "issuer_mismatch": Code(
        401,
        "The token's issuer (iss) is not the clientKey of the body.",
        "The token's iss must equal the clientKey in the body.",
        forge_hint=(
            "A Forge Invocation Token's iss is always 'forge/invocation-token': this is "
            "another kind of token."
        ),
    ),
    "key_invalid": Code(
        401,
        "The install token's key id (kid) does not name an Atlassian install key.",
        "The install token's kid does not name an Atlassian install key: it "
        "was not signed by Atlassian.",
        forge_hint=(
            "The token's kid is not in Forge's JWKS (FORGE_JWKS_URL), even after a "
            "refetch: it was not signed by Forge (a staging-signed token), or it is an "
            "Isolated Cloud token whose icLabel is not on FORGE_IC_LABELS (or "
            "FORGE_IC_JWKS_URL_TEMPLATE is not set)."
        ),
    ),
    "key_unavailable": Code(
        503,
        "The Atlassian install key could not be fetched.",
        "The Atlassian install key could not be fetched; nothing was changed. "
        "Retry the installation in a moment.",
        forge_hint=(
            "Forge's JWKS (FORGE_JWKS_URL) could not be fetched and no earlier copy is "
            "cached; nothing was changed. Forge retries events; check outbound access to "
            "the JWKS host."
        ),
    ),
    "product_host_not_allowed": Code(
        401,
        "The site's baseUrl is not on ALLOWED_PRODUCT_HOSTS.",
        "The site's baseUrl is not on ALLOWED_PRODUCT_HOSTS; add its host "
        "pattern if the site is genuine.",
        forge_hint=(
            "app.apiBaseUrl must be an https URL on a host in FORGE_API_HOSTS (default "
            "api.atlassian.com) whose path has no '.' or '..' segment and no %2F or %2E: "
            "no token is ever sent elsewhere."
        ),
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
        forge_hint=(
            "FORGE_REJECT_REPLAYED_JTI is on and this jti was already seen: a captured "
            "token is being replayed."
        ),
    ),
    "database_unavailable": Code(
        503,
        "The database failed while storing the callback.",
        "The database failed while storing the callback; nothing was changed. "
        "Retry in a moment, and check the database.",
    ),
    "cache_unavailable": Code(
        503,
        "The cache could not be reached.",
        "The cache server (CACHES, e.g. Redis) is unreachable or restarting: retry after "
        "Retry-After seconds, and check that the cache server is up.",
    ),
}
