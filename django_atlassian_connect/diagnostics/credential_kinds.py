"""What a credential is and where it went, for ``connect_doctor credentials``.

:func:`read_credential` classifies an ``Authorization`` value (or a bare
token) without keeping anything printable but its kind, the Basic email, the
token's length and a JWT's decoded header and claims; :func:`where` names the
kind of URL it was sent to (a Cloud site, the gateway, the token endpoint).
"""

from __future__ import annotations

import base64
import binascii
from fnmatch import fnmatch
from urllib.parse import urlsplit

from ..conf import connect_settings
from ..exceptions import ConnectAuthError
from ..http.targets import is_cloud_id
from ..tokens import ParsedToken, parse_token
from .grant_answers import is_token_endpoint

__all__ = ["Credential", "gateway_path", "read_credential", "where"]

#: Cloud site hosts (the site URL of classic API tokens; never for OAuth tokens).
CLOUD_SITE_HOSTS = ("*.atlassian.net", "*.jira.com", "*.jira-dev.com")
ATLASSIAN_ISSUER_HOSTS = ("atlassian.com", "atlassian.net", "atlassian-dev.net")
#: ``iss`` host fragment -> the identity provider it names.
IDENTITY_PROVIDERS = {
    "login.microsoftonline.com": "Azure AD (Microsoft Entra ID, Office 365)",
    "sts.windows.net": "Azure AD (Microsoft Entra ID, Office 365)",
    "login.windows.net": "Azure AD (Microsoft Entra ID, Office 365)",
    "okta.com": "Okta",
    "oktapreview.com": "Okta",
    "accounts.google.com": "Google",
    "auth0.com": "Auth0",
    "onelogin.com": "OneLogin",
    "pingone.com": "Ping Identity",
    "amazoncognito.com": "Amazon Cognito",
}


class Credential:
    """What an ``Authorization`` value (or a bare token) is, without keeping it printable.

    ``kind``: ``basic``, ``atlassian_oauth`` (a JWT issued by Atlassian's
    authorization server), ``identity_provider``, ``connect_jwt``, ``forge_fit``,
    ``jwt`` (another JWT), ``opaque`` (a bearer token that is not a JWT),
    ``api_token`` (a bare API token, no email), ``unreadable`` or ``none``.
    ``secrets`` are the strings never to print.
    """

    def __init__(self) -> None:
        self.kind = "none"
        self.scheme: str | None = None
        self.email: str | None = None
        self.token_length = 0
        self.parsed: ParsedToken | None = None
        self.issuer: str | None = None
        self.provider: str | None = None
        self.problem = ""
        self.secrets: list[str] = []


def read_credential(value: str | None) -> Credential:
    """Classify ``value``: ``"Basic …"``, ``"Bearer …"``, ``"JWT …"``, ``"email:token"``,
    a bare JWT or API token, optionally prefixed with ``Authorization:``."""
    found = Credential()
    text = (value or "").strip()
    if text.lower().startswith("authorization:"):
        text = text.split(":", 1)[1].strip()
    if not text:
        return found
    found.secrets.append(text)
    scheme, _, rest = text.partition(" ")
    if rest.strip() and scheme.lower() in ("basic", "bearer", "jwt"):
        found.scheme, text = scheme.lower(), rest.strip()
        found.secrets.append(text)
    if found.scheme == "basic" or (found.scheme is None and "@" in text and ":" in text):
        _read_basic(found, text)
    elif text.count(".") == 2:
        _read_jwt(found, text)
    elif found.scheme is None and text.startswith("ATATT"):
        found.kind, found.token_length = "api_token", len(text)
    else:
        found.kind, found.token_length = "opaque", len(text)
    return found


def _read_basic(found: Credential, text: str) -> None:
    found.kind = "basic"
    pair = text
    if found.scheme == "basic":
        try:
            pair = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            if ":" not in text:
                found.kind, found.problem = "unreadable", "the Basic value is not base64"
                return
            found.problem = "the Basic value is 'email:token' itself, not its base64"
    email, sep, token = pair.partition(":")
    if not sep:
        found.kind, found.problem = "unreadable", "the Basic value has no ':' (email:token)"
        found.secrets.append(pair)
        return
    found.email, found.token_length = email, len(token)
    found.secrets.extend(s for s in (token, pair) if s)


def _read_jwt(found: Credential, text: str) -> None:
    try:
        parsed = parse_token(text, max_length=connect_settings.MAX_TOKEN_LENGTH)
    except ConnectAuthError:
        found.kind, found.token_length = "opaque", len(text)
        return
    found.parsed, found.token_length = parsed, len(text)
    iss = parsed.claims.get("iss")
    found.issuer = iss if isinstance(iss, str) else None
    host = (urlsplit(found.issuer).hostname or "").lower() if found.issuer else ""
    auth_host = (urlsplit(str(connect_settings.OAUTH_AUTH_URL)).hostname or "").lower()
    if iss == "forge/invocation-token":
        found.kind = "forge_fit"
    elif "qsh" in parsed.claims or found.scheme == "jwt":
        found.kind = "connect_jwt"
    elif host and (host == auth_host or _under(host, ATLASSIAN_ISSUER_HOSTS)):
        found.kind = "atlassian_oauth"
    elif host:
        found.kind = "identity_provider"
        found.provider = next(
            (name for marker, name in IDENTITY_PROVIDERS.items() if marker in host),
            f"the identity provider at {host}",
        )
    else:
        found.kind = "jwt"


def _under(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def where(url: str | None) -> str:
    """``gateway``, ``token_endpoint``, ``auth``, ``cloud_site``, ``other`` or ``unknown``."""
    if not url:
        return "unknown"
    parts = urlsplit(url if "://" in url else "https://" + url)
    host = (parts.hostname or "").lower()
    api, auth = (
        urlsplit(str(connect_settings.API_URL)),
        urlsplit(str(connect_settings.OAUTH_AUTH_URL)),
    )
    if is_token_endpoint(url):
        return "token_endpoint"
    if parts.netloc.lower() == api.netloc.lower() or host == "api.atlassian.com":
        return "gateway"
    if parts.netloc.lower() == auth.netloc.lower() or host == "auth.atlassian.com":
        return "auth"
    if any(fnmatch(host, pattern) for pattern in CLOUD_SITE_HOSTS):
        return "cloud_site"
    return "other"


def gateway_path(url: str) -> tuple[str, str] | None:
    """``(product, cloudId)`` of ``.../ex/{product}/{cloudId}/...``, else ``None``."""
    segments = urlsplit(url).path.strip("/").split("/")
    for i, segment in enumerate(segments[:-2]):
        if segment == "ex" and segments[i + 1] in ("jira", "confluence"):
            if is_cloud_id(segments[i + 2]):
                return segments[i + 1], segments[i + 2]
    return None
