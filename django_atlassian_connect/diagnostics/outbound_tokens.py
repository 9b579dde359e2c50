"""A token someone built to call the product's REST API (as the app).

What the product checks: ``iss`` = the app key the site installed, the
``JWT`` scheme, the tenant's *current* secret, the times, the URL under the
tenant's ``baseUrl`` and the ``qsh`` relative to it. Grant assertions of the
impersonation flow are in :mod:`.grant_assertions`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..conf import connect_settings
from ..exceptions import ConnectAuthError
from ..models import AbstractTenant, get_tenant_model
from ..qsh import canonical_request, hash_canonical_request
from ..tokens import ParsedToken, check_qsh, require_claims
from .facts import app_key_mismatch, find_tenant, origin, tenant_facts
from .grant_assertions import ASSERTION_ISSUER_PREFIX, analyse_assertion
from .qsh_mistakes import report_qsh_mismatch
from .report import ERROR, HINTS, INFO, OK, WARNING, Report
from .signing import check_signature, check_token_times


def tenant_for_outbound(
    report: Report, parsed: ParsedToken, client_key: str | None, url: str | None
) -> AbstractTenant | None:
    """The tenant: ``--client-key``, else the ``iss`` (a clientKey or an oauthClientId), else
    the URL's origin."""
    manager = get_tenant_model()._default_manager
    if client_key:
        tenant, _ = find_tenant(client_key)
        if tenant is None:
            report.add(
                "tenant_unknown",
                ERROR,
                f"No installation has the clientKey (or URL) {client_key!r}.",
                hint="List installations with 'manage.py connect_tenants --all'.",
                cause="no_installation",
            )
        return tenant
    iss = parsed.issuer
    if isinstance(iss, str):
        tenant = manager.filter(client_key=iss).first()
        if tenant is not None:
            return tenant
        if iss.startswith(ASSERTION_ISSUER_PREFIX):
            tenant = manager.filter(oauth_client_id=iss[len(ASSERTION_ISSUER_PREFIX) :]).first()
            if tenant is not None:
                return tenant
    if url and "://" in url:
        wanted = origin(url)
        for candidate in manager.order_by("-is_installed", "-installed_at"):
            if wanted in (origin(candidate.base_url), origin(candidate.display_url or "x://")):
                return candidate
    report.add(
        "tenant_not_identified",
        WARNING,
        "Could not tell which installation the token is for: the signature is not checked.",
        hint="Add --client-key K (the tenant's clientKey or baseUrl).",
    )
    return None


def analyse_outbound(
    report: Report,
    parsed: ParsedToken,
    scheme: str | None,
    method: str | None,
    url: str | None,
    client_key: str | None,
    now: float,
) -> None:
    """Everything the product checks on a call signed as the app."""
    iss = parsed.issuer
    tenant = tenant_for_outbound(report, parsed, client_key, url)
    if tenant is not None:
        report.facts["tenant"] = tenant_facts(tenant)
    if isinstance(iss, str) and iss.startswith(ASSERTION_ISSUER_PREFIX):
        analyse_assertion(report, parsed, tenant, now)
        return
    if scheme == "bearer":
        report.add(
            "bearer_scheme",
            ERROR,
            "A Connect app JWT sent as 'Authorization: Bearer ...': the product reads app JWTs "
            "from 'Authorization: JWT ...' only and answers 401.",
            cause="bearer_instead_of_jwt",
        )
    elif scheme is None:
        report.add(
            "scheme_not_checked",
            INFO,
            "Send the token as 'Authorization: JWT <token>' (paste the whole header value to "
            "have the scheme checked).",
        )
    if parsed.alg != "HS256":
        report.add(
            "alg_not_allowed",
            ERROR,
            f"The token's algorithm is {parsed.alg!r}; app tokens are HS256 with the tenant's "
            "shared secret.",
        )
    _check_issuer(report, iss, tenant)
    try:
        require_claims(parsed, ("iss", "iat", "exp", "qsh"))
    except ConnectAuthError as error:
        report.add_error(error)
    if tenant is not None and parsed.alg == "HS256":
        check_signature(report, parsed, tenant, now, outbound=True)
    check_token_times(report, parsed, now, who="the signer")
    if url and tenant is not None:
        check_outbound_url(report, url, tenant)
    check_outbound_qsh(report, parsed, method, url, tenant)


def _check_issuer(report: Report, iss: object, tenant: AbstractTenant | None) -> None:
    """``iss`` must be the app key the site installed (not the tenant's clientKey)."""
    app_key = connect_settings.APP_KEY
    changed = app_key_mismatch(tenant) if tenant is not None else None
    if isinstance(iss, str) and (
        (tenant is not None and iss == tenant.client_key)
        or get_tenant_model()._default_manager.filter(client_key=iss).exists()
    ):
        report.add(
            "iss_is_client_key",
            ERROR,
            f"The token's iss is the tenant's clientKey {iss!r}; the product expects the app "
            f"key {app_key!r} and answers 401.",
            cause="iss_is_client_key",
            expected_iss=app_key,
        )
    elif changed is not None and iss == app_key:
        report.findings.append(changed)  # our key, but not the one the site installed
    elif changed is not None and tenant is not None and iss == tenant.app_key:
        report.add("issuer_valid", OK, f"iss is the app key the site installed {iss!r}.")
        changed.severity = WARNING
        report.findings.append(changed)
    elif iss != app_key:
        report.add(
            "issuer_mismatch",
            ERROR,
            f"The token's iss {iss!r} is not this app's key {app_key!r}: the product answers 401.",
            hint=HINTS["iss_is_client_key"],
            cause="iss_not_app_key",
            expected_iss=app_key,
        )
    else:
        report.add("issuer_valid", OK, f"iss is the app key {app_key!r}.")


def check_outbound_url(report: Report, url: str, tenant: AbstractTenant) -> None:
    """A full URL must be under the tenant's ``baseUrl`` (not its ``displayUrl``)."""
    if "://" not in url:
        return
    base = tenant.base_url.rstrip("/")
    if origin(url) == origin(base):
        base_path = urlsplit(base).path.rstrip("/")
        path = urlsplit(url).path
        if base_path and not (path == base_path or path.startswith(base_path + "/")):
            report.add(
                "url_not_allowed",
                ERROR,
                f"{url} is on the site but outside its baseUrl {base} (Confluence REST paths "
                f"start with {base_path}).",
                cause="wiki_missing",
            )
        return
    if tenant.display_url and origin(url) == origin(tenant.display_url):
        report.add(
            "display_url_used",
            ERROR,
            f"The call goes to the displayUrl {tenant.display_url} ({origin(url)}); the REST "
            f"API is under the baseUrl {base}.",
            cause="display_url_as_api_base",
            base_url=base,
            display_url=tenant.display_url,
        )
        return
    report.add(
        "url_not_allowed",
        ERROR,
        f"{url} is not under the tenant's baseUrl {base}: the tenant's token must not be "
        "sent there.",
        cause="other_origin",
    )


def check_outbound_qsh(
    report: Report,
    parsed: ParsedToken,
    method: str | None,
    url: str | None,
    tenant: AbstractTenant | None,
) -> None:
    """The qsh the product computes for the call: relative to the tenant's ``baseUrl``."""
    if parsed.claims.get("qsh") in (None, ""):
        return  # claim_missing was reported
    base_url = tenant.base_url if tenant is not None else None
    ours = canonical_request(method, url, base_url) if method and url else None
    try:
        check_qsh(
            parsed,
            context=False,
            matches=None if ours is None else (lambda qsh: qsh == hash_canonical_request(ours)),
        )
    except ConnectAuthError as error:
        if error.code == "context_qsh_not_allowed":
            report.add(
                error.code,
                ERROR,
                "The token carries qsh 'context-qsh': the product's REST API needs the hash of "
                "the request.",
                hint="Compute the qsh over the method, path and query of the call.",
                cause="context_qsh_outbound",
            )
        elif ours is None or not method or not url:
            report.add(
                "qsh_not_checked",
                INFO,
                "Give --method and --url to check the qsh against the call.",
            )
        else:
            report.facts["canonical_request"] = ours
            report_qsh_mismatch(
                report,
                str(parsed.claims.get("qsh")),
                method,
                url,
                base_url,
                ours,
                include_encoding=True,
                replay_hint="A token is bound to one call: make a new token (with its own qsh) "
                "per call.",
            )
        return
    report.facts["canonical_request"] = ours
    report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
