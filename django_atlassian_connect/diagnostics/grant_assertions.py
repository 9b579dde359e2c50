"""The JWT-bearer assertion of the impersonation grant (acting as a user).

``iss`` = ``urn:atlassian:connect:clientid:<oauthClientId>``, ``sub`` = the
user's account URN, ``tnt`` = the tenant's baseUrl, ``aud`` = the
authorization server, signed with the tenant's current secret.
"""

from __future__ import annotations

from ..connect import impersonation
from ..exceptions import ConnectAuthError
from ..models import AbstractTenant
from ..tokens import ParsedToken, check_audience, require_claims
from .report import ERROR, Report
from .signing import check_signature, check_token_times

ASSERTION_ISSUER_PREFIX = "urn:atlassian:connect:clientid:"
ACCOUNT_SUBJECT_PREFIX = "urn:atlassian:connect:useraccountid:"


def analyse_assertion(
    report: Report, parsed: ParsedToken, tenant: AbstractTenant | None, now: float
) -> None:
    """What the authorization server checks on the grant's assertion."""
    report.facts["kind"] = "impersonation grant assertion"
    claims = parsed.claims
    try:
        require_claims(parsed, ("iss", "sub", "tnt", "aud", "iat", "exp"))
    except ConnectAuthError as error:
        report.add_error(error)
    if tenant is None:
        report.add(
            "issuer_mismatch",
            ERROR,
            f"No installation has the oauthClientId in iss {parsed.issuer!r}.",
            hint="Take the oauthClientId from the tenant's latest 'installed' payload.",
            cause="oauth_client_id_unknown",
        )
    else:
        _check_tenant_claims(report, parsed, tenant)
        if parsed.alg == "HS256":
            check_signature(report, parsed, tenant, now, outbound=True)
    sub = claims.get("sub")
    if isinstance(sub, str) and not sub.startswith(ACCOUNT_SUBJECT_PREFIX):
        report.add(
            "claim_missing",
            ERROR,
            f"sub {sub!r} must be '{ACCOUNT_SUBJECT_PREFIX}<accountId>'.",
            cause="sub_not_account_urn",
        )
    check_token_times(report, parsed, now, who="the signer")


def _check_tenant_claims(report: Report, parsed: ParsedToken, tenant: AbstractTenant) -> None:
    """``iss`` (the current oauthClientId), ``tnt`` and ``aud`` against the installation."""
    claims = parsed.claims
    if not tenant.oauth_client_id:
        report.add(
            "oauth_client_id_missing",
            ERROR,
            f"The installation {tenant.client_key} has no oauthClientId.",
        )
    elif parsed.issuer != f"{ASSERTION_ISSUER_PREFIX}{tenant.oauth_client_id}":
        report.add(
            "issuer_mismatch",
            ERROR,
            "The assertion's iss names another oauthClientId than the installation's "
            "(it changes on reinstall: take it from the latest 'installed').",
            cause="stale_oauth_client_id",
        )
    if claims.get("tnt") not in (tenant.base_url, tenant.base_url.rstrip("/")):
        report.add(
            "audience_invalid",
            ERROR,
            f"tnt {claims.get('tnt')!r} is not the site's baseUrl {tenant.base_url!r}"
            + (" (Confluence: with /wiki)" if tenant.is_confluence else "")
            + ".",
            hint="tnt is the tenant's baseUrl, exactly as in the 'installed' payload.",
            cause="tnt_not_base_url",
        )
    wanted = impersonation.authorization_server_url(tenant)
    try:
        check_audience(parsed, [wanted])
    except ConnectAuthError:
        aud = claims.get("aud")
        aud = aud[0] if isinstance(aud, list) and aud else aud
        retired = isinstance(aud, str) and "auth.atlassian.io" in aud
        report.add(
            "audience_invalid",
            ERROR,
            f"aud {aud!r} is not the authorization server {wanted!r}"
            + (": auth.atlassian.io is retired." if retired else "."),
            hint="aud is the URL of the authorization server the grant is posted to.",
            cause="retired_authorization_server" if retired else "aud_not_token_endpoint",
        )
