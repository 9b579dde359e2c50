"""``connect_doctor token``: decode a token without trusting it, say what it is, and
hand it to the analysis of its kind (inbound, signed install, outbound)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from ..conf import connect_settings
from ..exceptions import ConnectAuthError
from ..tokens import ParsedToken, parse_token
from .inbound_tokens import analyse_inbound
from .install_tokens import analyse_install_token, is_install_token
from .outbound_tokens import analyse_outbound
from .report import ERROR, INFO, Report, token_prefix
from .signing import time_facts

_SSO_ISSUERS = (
    "login.microsoftonline.com",
    "sts.windows.net",
    "login.windows.net",
    "accounts.google.com",
    "okta.com",
    "oktapreview.com",
    "auth0.com",
    "onelogin.com",
    "pingidentity.com",
    "pingone.com",
    "amazoncognito.com",
    "keycloak",
)
_SSO_CLAIMS = frozenset(
    {"tid", "oid", "upn", "scp", "azp", "appid", "unique_name", "preferred_username", "roles"}
)


def split_scheme(value: str) -> tuple[str, str | None]:
    """``"Bearer abc"`` / ``"Authorization: JWT abc"`` -> ``("abc", "bearer")``."""
    text = value.strip()
    if text.lower().startswith("authorization:"):
        text = text.split(":", 1)[1].strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() in ("jwt", "bearer"):
        return rest.strip(), scheme.lower()
    return text, None


def looks_like_sso(parsed: ParsedToken) -> str | None:
    """The identity provider an SSO/OIDC token comes from, if it looks like one."""
    iss = parsed.claims.get("iss")
    if isinstance(iss, str) and iss.startswith("https://"):
        host = (urlsplit(iss).hostname or "").lower()
        if any(marker in host for marker in _SSO_ISSUERS):
            return iss
        if parsed.alg != "HS256" and _SSO_CLAIMS & set(parsed.claims):
            return iss
    if parsed.alg != "HS256" and len(_SSO_CLAIMS & set(parsed.claims)) >= 2:
        return str(iss)
    return None


def analyse_token(
    token: str,
    *,
    method: str | None = None,
    url: str | None = None,
    outbound: bool = False,
    client_key: str | None = None,
    endpoint: str = "auto",
    now: float | None = None,
) -> Report:
    """Decode ``token`` without trusting it and say what is wrong with it.

    Inbound (default): a token the product sent to this app, checked in the order
    the app checks it (so the first error is the code the view answers with).
    ``outbound=True``: a token someone built to call the product's REST API.
    ``endpoint`` (inbound): ``"auto"`` finds the kind of view ``url`` routes to;
    ``"request"`` or ``"context"`` say it.
    """
    now = time.time() if now is None else now
    if url and not method:
        method = "GET"
    report = Report("token")
    raw, scheme = split_scheme(token)
    report.facts["direction"] = (
        "outbound (a token for calling the product)"
        if outbound
        else "inbound (a token the product sent to this app)"
    )
    report.facts["token"] = token_prefix(raw)
    if scheme:
        report.facts["scheme"] = "JWT" if scheme == "jwt" else "Bearer"
    if method and url:
        report.facts["request"] = f"{method.upper()} {url}"
    try:
        parsed = parse_token(raw, max_length=connect_settings.MAX_TOKEN_LENGTH)
    except ConnectAuthError as error:
        if outbound and scheme == "bearer":
            report.add(
                "opaque_bearer_token",
                INFO,
                "An opaque bearer token (not a JWT): an impersonation access token can only be "
                "checked by using it: run 'connect_doctor request ... --as-user ACCOUNT'.",
            )
        else:
            report.add_error(error)
        return report
    report.facts["header"] = parsed.header
    report.facts["claims"] = parsed.claims
    report.facts["times"] = time_facts(parsed, now)
    sso = looks_like_sso(parsed)
    if sso is not None:
        report.add(
            "sso_token",
            ERROR,
            f"This is a token from an identity provider (iss {sso!r}), not an Atlassian one."
            + (
                " Jira/Confluence Cloud refuse it: 401 'Client must be authenticated to access "
                "this resource'."
                if outbound
                else " This app accepts Connect JWTs only."
            ),
            cause="sso_provider_token",
            issuer=sso,
        )
        return report
    if outbound:
        analyse_outbound(report, parsed, scheme, method, url, client_key, now)
        return report
    if scheme == "bearer":
        report.add(
            "token_missing",
            ERROR,
            "The token was sent as 'Authorization: Bearer ...': Connect views look for "
            "'Authorization: JWT ...' (or a jwt query parameter) and do not see it.",
            hint="Send it as 'Authorization: JWT <token>'.",
            cause="bearer_scheme",
        )
    if is_install_token(parsed):
        analyse_install_token(report, parsed, method, url, now)
    else:
        analyse_inbound(report, parsed, method, url, endpoint, now)
    return report
