"""``connect_doctor credentials``: why a call to Atlassian Cloud outside Connect fails.

Given what a script or an integration sent (a token, or the ``Authorization``
header value), where it sent it (``url``) and what came back (``status``,
``body``), or a stored 3LO grant, it names the mistake:

- an identity provider's token (Azure AD / Office 365, Okta, ...): never
  accepted by Atlassian's REST APIs (401 "Client must be authenticated");
- Basic auth that ran as anonymous (404 "Issue does not exist or you do not
  have permission"): the email/token pair was not accepted;
- a scoped API token sent to the site URL; an expired API token (401);
- an OAuth 2.0 token (3LO, service account) sent to ``*.atlassian.net``, or
  to the gateway without ``/ex/{product}/{cloudId}``;
- a grant without a refresh token (``offline_access`` missing), a revoked or
  expired grant (``invalid_grant``).

The credential is classified by :mod:`.credential_kinds`, the answers of the
authorization server and stored grants read by :mod:`.grant_answers`.
Nothing here prints a credential: a Basic value shows as its email and the
token's length, a JWT as its header and a few claims; every string of the
report is scrubbed of the credential before it is returned.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from ..conf import connect_settings
from .credential_kinds import Credential, gateway_path, read_credential, where
from .grant_answers import SECRET_FIELDS, analyse_grant, analyse_token_answer, read_body
from .report import ERROR, INFO, OK, WARNING, Report
from .signing import time_facts

__all__ = ["Credential", "analyse_credentials", "read_credential"]

GUIDE = "docs: 'Calling Atlassian Cloud without Connect'"
AUTHENTICATE_FIRST = "Client must be authenticated"
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission"
EXPIRING_SINCE = date(2024, 12, 15)
API_TOKEN_LIFETIME_DAYS = 365


def analyse_credentials(
    credential: str | None = None,
    *,
    url: str | None = None,
    status: int | None = None,
    body: str | None = None,
    grant: Any = None,
    scoped: bool = False,
    created: date | None = None,
    now: float | None = None,
) -> Report:
    """Explain why ``credential`` sent to ``url`` got ``status``/``body``, or why ``grant``
    (an ``OAuthGrant``) no longer works. Each argument is optional; give what you have."""
    now = time.time() if now is None else now
    report = Report("credentials")
    found = read_credential(credential)
    place = where(url)
    answer = read_body(body)
    _facts(report, found, url, place, status, answer, now)
    if found.kind == "identity_provider":
        _identity_provider(report, found, status, answer)
    elif found.kind in ("atlassian_oauth", "opaque", "jwt") and found.scheme != "basic":
        _bearer(report, found, url, place, status, now)
    elif found.kind in ("basic", "api_token", "unreadable"):
        _basic(report, found, url, place, status, answer, scoped, created, now)
    elif found.kind in ("connect_jwt", "forge_fit"):
        command = "token --outbound" if found.kind == "connect_jwt" else "forge-token"
        report.add(
            "credential_not_for_this_command",
            INFO,
            f"This is a {'Connect JWT' if found.kind == 'connect_jwt' else 'Forge Invocation Token'}"
            f": analyse it with 'connect_doctor {command}'.",
        )
    if place == "token_endpoint" or (answer and ("error" in answer or "access_token" in answer)):
        analyse_token_answer(report, answer, status)
    if grant is not None:
        analyse_grant(report, grant, now)
    if not report.findings:
        report.add(
            "credentials_plausible",
            OK,
            "Nothing wrong found in what was given. Give --url, --status and --body of the "
            "answer (or --grant) for more.",
        )
    return scrub(report, found.secrets)


def _with_settings(text: str) -> str:
    return text.replace("{API_URL}", str(connect_settings.API_URL).rstrip("/"))


def _facts(
    report: Report,
    found: Credential,
    url: str | None,
    place: str,
    status: int | None,
    answer: dict[str, Any] | None,
    now: float,
) -> None:
    if found.kind != "none":
        report.facts["credential"] = {
            "basic": "HTTP Basic (email:API token)",
            "api_token": "an API token without its email",
            "atlassian_oauth": "an OAuth 2.0 access token issued by Atlassian",
            "identity_provider": f"a token issued by {found.provider}",
            "connect_jwt": "a Connect JWT",
            "forge_fit": "a Forge Invocation Token",
            "jwt": "a JWT with no URL issuer",
            "opaque": "an opaque bearer token (not a JWT)",
            "unreadable": "unreadable",
        }[found.kind]
        report.facts["scheme"] = (found.scheme or "none given").capitalize()
    if found.email is not None:
        report.facts["email"] = found.email
    if found.token_length:
        report.facts["token_length"] = found.token_length
    if found.parsed is not None:
        claims = found.parsed.claims
        report.facts["header"] = {k: found.parsed.header.get(k) for k in ("alg", "typ", "kid")}
        report.facts["claims"] = {
            k: claims[k] for k in ("iss", "aud", "sub", "scope", "scp", "client_id") if k in claims
        }
        report.facts["times"] = time_facts(found.parsed, now)
    if url:
        report.facts["url"] = f"{url} ({place.replace('_', ' ')})"
    if status is not None:
        report.facts["status"] = status
    if answer:
        report.facts["answer"] = {k: v for k, v in answer.items() if k not in SECRET_FIELDS}


def _identity_provider(
    report: Report, found: Credential, status: int | None, answer: dict[str, Any] | None
) -> None:
    said = json.dumps(answer) if answer else ""
    confirmed = status == 401 or AUTHENTICATE_FIRST in said
    report.add(
        "sso_token",
        ERROR,
        f"This token was issued by {found.provider} (iss {found.issuer!r}), not by Atlassian. "
        "An identity provider's token never authenticates to Atlassian's REST APIs, even "
        "when the site's users log in through that provider (SSO): Jira Cloud answers 401 "
        "'Client must be authenticated to access this resource'"
        + (" — the answer you got." if confirmed else "."),
        hint="Use an Atlassian credential: an API token (Basic email:token; scripts acting "
        "as one person), a service account (OAuth 2.0 client credentials; integrations), or "
        "OAuth 2.0 (3LO), where each user links their Atlassian account. " + GUIDE + ".",
        cause="identity_provider_token",
        issuer=found.issuer,
        provider=found.provider,
    )


def _bearer(
    report: Report, found: Credential, url: str | None, place: str, status: int | None, now: float
) -> None:
    claims = found.parsed.claims if found.parsed is not None else {}
    what = (
        "an OAuth 2.0 token (3LO or service account)"
        if found.kind == "atlassian_oauth"
        else ("a bearer token")
    )
    if place == "cloud_site":
        site = urlsplit(url or "").hostname
        report.add(
            "oauth_token_site_url",
            ERROR,
            f"{what.capitalize()} was sent to the site URL ({site}). Sites take API tokens "
            "(Basic) and Connect JWTs only; OAuth 2.0 tokens go through the API gateway, "
            f"{connect_settings.API_URL}/ex/jira/{{cloudId}}/rest/api/3/..."
            + (" — hence the 401." if status == 401 else "."),
            hint="Call {API_URL}/ex/jira/{cloudId}/... (Confluence: /ex/confluence/{cloudId}/"
            "wiki/...). The cloudId is the id in GET {API_URL}/oauth/token/accessible-resources "
            f"(or https://{site}/_edge/tenant_info). OAuthClient and ServiceAccountClient "
            "build these URLs.",
            cause="oauth_on_site",
            site=site,
        )
    elif place == "gateway" and url and gateway_path(url) is None:
        report.add(
            "gateway_path_missing",
            ERROR,
            f"The call went to the gateway ({url}) without /ex/{{product}}/{{cloudId}}: the "
            "gateway routes REST calls by that prefix only.",
            hint="Call {API_URL}/ex/jira/{cloudId}/rest/api/3/...; the cloudId comes from "
            "GET {API_URL}/oauth/token/accessible-resources.",
            cause="no_ex_prefix",
        )
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp < now:
        report.add(
            "access_token_expired",
            ERROR,
            f"The access token expired {int(now - exp)} s ago: Atlassian's access tokens live "
            "1 hour." + (" That explains the 401." if status == 401 else ""),
            hint="3LO: refresh with the refresh token before it expires (OAuthClient does, "
            "by expiry time); service accounts: fetch a new one (ServiceAccountClient caches "
            "it until shortly before expiry).",
            cause="expired",
            expired_seconds_ago=int(now - exp),
        )
    if status == 401 and not report.problems and place != "cloud_site":
        report.add(
            "oauth_token_refused",
            ERROR,
            "The gateway refused the bearer token"
            + (
                " although its exp has not passed"
                if found.kind == "atlassian_oauth"
                else " (it is opaque: its expiry cannot be read; access tokens live 1 hour)"
            )
            + ": it expired, the user revoked the app's access, the service account's "
            "credential was revoked, or the cloudId is a site the grant does not include.",
            hint="3LO: refresh by expiry time (the next refresh answers invalid_grant if the "
            "grant is gone: connect_doctor credentials --grant ID); check the cloudId against "
            "GET {API_URL}/oauth/token/accessible-resources.",
        )


def _basic(
    report: Report,
    found: Credential,
    url: str | None,
    place: str,
    status: int | None,
    answer: dict[str, Any] | None,
    scoped: bool,
    created: date | None,
    now: float,
) -> None:
    if found.kind == "unreadable":
        report.add(
            "basic_value_unreadable",
            ERROR,
            f"The Basic credential cannot be read: {found.problem}.",
            hint="Send 'Authorization: Basic ' + base64('email:api_token').",
        )
        return
    if found.problem:
        report.add(
            "basic_not_encoded",
            ERROR,
            f"The Basic credential is not encoded: {found.problem}.",
            hint="Send 'Authorization: Basic ' + base64('email:api_token'); requests does it "
            "with auth=(email, token), and so does ApiTokenClient.",
        )
    if found.email is not None and "@" not in found.email:
        report.add(
            "basic_user_not_email",
            WARNING,
            f"The Basic user {found.email!r} is not an email address: Jira and Confluence Cloud "
            "take the Atlassian account's email with an API token (a username and password "
            "are Jira Server/Data Center).",
            hint="Use the email of the account that created the API token.",
        )
    said = json.dumps(answer) if answer else ""
    on_site = place in ("cloud_site", "other")
    if scoped and on_site:
        report.add(
            "scoped_token_site_url",
            ERROR,
            "A scoped API token was sent to the site URL: Atlassian accepts scoped tokens "
            "through the API gateway only, so the site ran the call as anonymous (or refused it).",
            hint="Call {API_URL}/ex/jira/{cloudId}/rest/api/3/... with the same Basic header: "
            "ApiTokenClient(email, token, cloud_id). The cloudId is at "
            "https://<site>.atlassian.net/_edge/tenant_info.",
            cause="scoped_on_site",
        )
    if status == 404 and place != "gateway":
        known = ISSUE_NOT_FOUND in said or "do not have permission" in said
        report.add(
            "basic_auth_anonymous",
            ERROR,
            "The site did not accept the email/token pair and ran the call as anonymous"
            + (
                ": Jira's 404 'Issue does not exist or you do not have permission to see it' is "
                "what an anonymous caller gets."
                if known
                else " (a 404 to a Basic call whose resource exists)."
            ),
            hint="Check the pair with GET /rest/api/3/myself (401 when anonymous). The email "
            "must be the token owner's Atlassian account email; the token must be a live API "
            "token of that account (not the password, not revoked)"
            + ("; a scoped token goes through {API_URL}/ex/jira/{cloudId}." if not scoped else "."),
            cause="issue_not_found_message" if known else "not_found",
        )
    elif status == 401:
        _refused_basic(report, place, created, now)
    if place == "gateway" and url and gateway_path(url) is None:
        report.add(
            "gateway_path_missing",
            ERROR,
            f"The call went to the gateway ({url}) without /ex/{{product}}/{{cloudId}}.",
            hint="Scoped API tokens call {API_URL}/ex/jira/{cloudId}/rest/api/3/....",
            cause="no_ex_prefix",
        )


def _refused_basic(report: Report, place: str, created: date | None, now: float) -> None:
    gateway = place == "gateway"
    classic = (
        " Through the gateway, a classic token (created without scopes) is refused too: those "
        "work on the site URL only."
        if gateway
        else ""
    )
    age = (date.fromtimestamp(now) - created).days if created is not None else None
    if created is not None and age is not None:
        if created >= EXPIRING_SINCE and age < API_TOKEN_LIFETIME_DAYS:
            report.add(
                "basic_auth_refused",
                ERROR,
                f"A 401 to Basic auth with a token created {age} days ago (not yet at the "
                "1-year default expiry): it was revoked, its expiry was set shorter, or the "
                "email is not its owner's." + classic,
                hint="Check the token at https://id.atlassian.com/manage-profile/security/"
                "api-tokens (expiry, revoked) and that the email is its owner's.",
                cause="revoked_or_wrong_pair",
                token_age_days=age,
            )
            return
    report.add(
        "api_token_expired",
        ERROR,
        "A 401 to Basic auth: the API token has most likely expired (or was revoked). Since "
        "2024-12-15 every new API token has an expiry date, 1 year by default"
        + (f"; this one is {age} days old." if age is not None else ".")
        + classic,
        hint="Create a new token at https://id.atlassian.com/manage-profile/security/"
        "api-tokens and replace it where it is stored; note its expiry date. A service "
        "account or 3LO avoids one person's token expiring under an integration.",
        cause="expired" if created is not None else "expired_or_revoked",
    )


def scrub(report: Report, secrets: list[str]) -> Report:
    """Remove every credential string from the report (facts, messages, details), and
    name the configured ``API_URL`` where a text says ``{API_URL}``."""
    values = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def clean(text: str) -> str:
        for secret in values:
            text = text.replace(secret, "[credential]")
        return _with_settings(text)

    return report.rewrite(clean)
