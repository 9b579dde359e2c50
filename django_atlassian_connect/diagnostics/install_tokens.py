"""A signed-install token (``installed`` / ``uninstalled``): RS256 with Atlassian's key.

The checks are the lifecycle view's own: the key named by ``kid``
(:mod:`keys`), :func:`tokens.verify_rs256`, the times, :func:`tokens.check_audience`
against our base URLs, and the request's qsh.
"""

from __future__ import annotations

from ..conf import connect_settings
from ..connect import install_keys
from ..connect.inbound import RequestQsh
from ..connect.lifecycle import app_base_urls
from ..exceptions import ConnectAuthError
from ..tokens import ParsedToken, check_audience, check_qsh, verify_rs256
from .facts import tenant_facts, tenant_row
from .qsh_mistakes import report_qsh_mismatch
from .report import OK, Report
from .routing import inbound_request
from .signing import check_token_times


def is_install_token(parsed: ParsedToken) -> bool:
    """RS256 with a ``kid``: what Atlassian signs lifecycle callbacks with."""
    return parsed.alg == "RS256" and bool(parsed.header.get("kid"))


def analyse_install_token(
    report: Report, parsed: ParsedToken, method: str | None, url: str | None, now: float
) -> None:
    """Key, signature, times, ``aud`` and qsh of a signed-install token."""
    report.facts["kind"] = "signed install (RS256)"
    iss = parsed.issuer
    tenant = tenant_row(iss) if isinstance(iss, str) else None
    if tenant is not None:
        report.facts["tenant"] = tenant_facts(tenant)
    try:
        kid = install_keys.validate_kid(parsed.header.get("kid"))
        verify_rs256(parsed, install_keys.fetch_install_key(kid, tenant.base_url if tenant else ""))
    except ConnectAuthError as error:
        report.add_error(error)
    else:
        report.add("signature_valid", OK, "Signed by the Atlassian install key named by kid.")
    check_token_times(report, parsed, now, who="Atlassian")
    try:
        check_audience(parsed, app_base_urls())
    except ConnectAuthError as error:
        report.add_error(error, cause="base_url_changed")
    if not (method and url):
        return
    request_qsh = RequestQsh(inbound_request(method, url))
    ours = request_qsh.canonical
    report.facts["canonical_request"] = ours
    try:
        check_qsh(parsed, context=False, matches=request_qsh)
    except ConnectAuthError as error:
        if error.code != "qsh_mismatch":
            report.add_error(error)
            return
        report_qsh_mismatch(
            report,
            str(parsed.claims.get("qsh")),
            method,
            url,
            connect_settings.BASE_URL,
            ours,
            include_encoding=False,
            replay_hint="The install token was made for another lifecycle URL.",
        )
    else:
        report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
