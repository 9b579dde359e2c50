"""``connect_doctor request``: perform one call with :class:`ConnectClient`, explain it.

Shows what was sent (the signed claims, the canonical request, the secret's
fingerprint; the token itself only when asked) and what came back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import requests

from ..connect.client import ConnectClient
from ..exceptions import ConnectAuthError, ConnectClientError
from ..http import ConnectAPIError
from ..tokens import parse_token
from .facts import find_tenant, report_unknown_tenant, tenant_facts
from .outbound_errors import explain_outbound_error
from .report import OK, Report, token_prefix


def diagnose_request(
    method: str,
    url: str,
    *,
    tenant: str,
    account_id: str | None = None,
    scopes: Iterable[str] | None = None,
    body: Any = None,
    show_token: bool = False,
    now: float | None = None,
) -> Report:
    """Perform one call with :class:`ConnectClient` and explain the outcome."""
    now = time.time() if now is None else now
    report = Report("request")
    found, _ = find_tenant(tenant)
    if found is None:
        report_unknown_tenant(report, tenant)
        return report
    mode = "user" if account_id else "app"
    report.facts["tenant"] = tenant_facts(found)
    report.facts["call"] = f"{method.upper()} {url} as " + (
        f"the user {account_id}" if account_id else "the app"
    )
    response: requests.Response | None = None
    try:
        client = ConnectClient(found)
        session = client.as_user(account_id, scopes) if account_id else client.as_app()
        response = session.request(method.upper(), url, json=body)
    except ConnectClientError as exc:  # network failures too (ConnectNetworkError)
        if isinstance(exc, ConnectAPIError):
            response = exc.response
        report.findings.append(explain_outbound_error(exc, found, mode=mode, now=now))
    if response is not None:
        describe_sent(report, response, show_token=show_token)
        if response.status_code < 400:
            report.add(
                "call_ok",
                OK,
                f"{method.upper()} {response.request.url} -> {response.status_code}.",
            )
    return report


def describe_sent(report: Report, response: requests.Response, *, show_token: bool) -> None:
    """The request as sent and the start of the answer, with the credential shortened."""
    request = response.request
    report.facts["url"] = request.url
    report.facts["status"] = f"{response.status_code} {response.reason}"
    authorization = str(request.headers.get("Authorization", ""))
    scheme, _, token = authorization.partition(" ")
    if scheme == "JWT":
        try:
            parsed = parse_token(token)
        except ConnectAuthError:
            pass
        else:
            report.facts["signed_claims"] = parsed.claims
    signing = getattr(request, "connect_signing", None)
    if signing:
        report.facts["canonical_request"] = signing.get("canonical")
        report.facts["secret"] = signing.get("fingerprint")
    report.facts["authorization"] = (
        authorization if show_token else f"{scheme} {token_prefix(token)}".strip()
    )
    text = response.text if isinstance(response.text, str) else ""
    report.facts["response"] = text[:500]
