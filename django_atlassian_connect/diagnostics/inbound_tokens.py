"""A request or context token the product (or our front end) sent to this app.

Checked with the app's own functions in the order a view runs them
(:func:`inbound.unverified_issuer`, the signature and times,
:func:`inbound.check_tenant_state`, :func:`tokens.check_qsh`), so the first
error is the code the view answers with; each raised code is then explained.
"""

from __future__ import annotations

from ..conf import connect_settings
from ..connect.inbound import RequestQsh, check_tenant_state, unverified_issuer
from ..exceptions import ConnectAuthError
from ..models import AbstractTenant, LifecycleEvent
from ..tokens import ParsedToken, check_qsh
from .facts import describe_event, similar_tenants, tenant_facts, tenant_row
from .qsh_mistakes import report_qsh_mismatch
from .report import ERROR, INFO, OK, Report
from .routing import endpoint_kind, inbound_request
from .signing import check_signature, check_token_times, other_tenant_signing


def analyse_inbound(
    report: Report,
    parsed: ParsedToken,
    method: str | None,
    url: str | None,
    endpoint: str,
    now: float,
) -> None:
    """An HS256 token sent to one of our views: tenant, signature, times, qsh."""
    if parsed.alg != "HS256":
        report.add(
            "alg_not_allowed",
            ERROR,
            f"The token's algorithm is {parsed.alg!r}; product tokens are HS256 (signed "
            "installs RS256 with a kid).",
        )
        return
    try:
        iss = unverified_issuer(parsed)
    except ConnectAuthError as error:
        report.add_error(error)
        return
    tenant = load_inbound_tenant(report, parsed, iss, now)
    if tenant is None:
        return
    # The view's order: signature and times, then the tenant's state, then the qsh.
    check_signature(report, parsed, tenant, now, outbound=False)
    check_token_times(report, parsed, now, who="the product (or whoever signed it)")
    try:
        check_tenant_state(tenant, iss)
    except ConnectAuthError as error:
        report.add_error(error)  # uninstalled or disabled: the analysis goes on
    check_inbound_qsh(report, parsed, method, url, endpoint)


def _signed_as_the_app(
    report: Report, error: ConnectAuthError, parsed: ParsedToken, app_key: str, now: float
) -> None:
    """iss = our own app key: a token minted to call the product, sent to us instead."""
    signer = other_tenant_signing(parsed, None, now)
    report.add(
        error.code,  # tenant_unknown: no installation has our app key as clientKey
        ERROR,
        f"The token's iss is this app's own key {app_key!r}. The product never sends such a "
        "token (its tokens carry the tenant's clientKey); iss = the app key is what outbound "
        "tokens carry, for calling the product. The front end or a script signed this one "
        "as the app"
        + (f", with the shared secret of {signer}" if signer else "")
        + ", and sent it to this app.",
        hint="Send the token the product gave: the iframe's jwt for a page load, "
        "AP.context.getToken() for the front end's calls to its back end; never mint tokens "
        "in the browser. To analyse this token as one for the product's REST API, add "
        "--outbound.",
        cause="iss_is_app_key",
        signed_with_secret_of=signer,
    )


def load_inbound_tenant(
    report: Report, parsed: ParsedToken, client_key: str, now: float
) -> AbstractTenant | None:
    """The tenant named by ``iss``; ``tenant_unknown`` (from
    :func:`inbound.check_tenant_state`) ends the analysis, explained."""
    tenant = tenant_row(client_key)
    if tenant is None:
        try:
            check_tenant_state(None, client_key)
        except ConnectAuthError as error:
            if client_key == connect_settings.APP_KEY:
                _signed_as_the_app(report, error, parsed, client_key, now)
                return None
            report.add_error(
                error,
                cause="no_installation",
                similar=similar_tenants(client_key),
                explanation="Installed in another environment (database)? Or installed and "
                "the 'installed' callback refused: see connect_doctor tenant.",
            )
        refused = LifecycleEvent.objects.filter(client_key=client_key, accepted=False)
        for event in refused.order_by("-received_at")[:3]:
            report.add(
                "install_refused",
                INFO,
                f"An '{event.event_type}' delivery for this clientKey was refused at "
                f"{event.received_at:%Y-%m-%dT%H:%M:%SZ}: {event.error_code}.",
                cause=event.error_code,
                event=describe_event(event),
            )
        return None
    report.facts["tenant"] = tenant_facts(tenant)
    return tenant


def _qsh_error(
    parsed: ParsedToken, *, context: bool, request_qsh: RequestQsh | None = None
) -> ConnectAuthError | None:
    """What :func:`tokens.check_qsh` says for a view of this kind (``None``: accepted)."""
    try:
        check_qsh(parsed, context=context, matches=request_qsh)
    except ConnectAuthError as error:
        return error
    return None


def check_inbound_qsh(
    report: Report, parsed: ParsedToken, method: str | None, url: str | None, endpoint: str
) -> None:
    """The qsh rule of the view ``url`` reaches (or ``endpoint`` names), explained."""
    kind: str | None = None if endpoint == "auto" else endpoint
    if url and kind is None:
        kind, view = endpoint_kind(url)
        report.facts["endpoint"] = (
            f"{view or '?'}: {kind} tokens" if kind else f"{view or 'not routed'}: unknown kind"
        )
    as_context = _qsh_error(parsed, context=True)  # None: a context token
    if as_context is not None and as_context.code == "qsh_missing":
        report.add_error(as_context)
        return
    if as_context is None and kind != "request":
        if kind == "context":
            report.add("qsh_valid", OK, "A context token on a view that takes context tokens.")
        else:
            report.add(
                "context_token",
                INFO,
                "A context token (qsh 'context-qsh'): accepted only by views that take context "
                "tokens (ConnectContextJWTAuthentication, @connect_jwt_required(context=True)); "
                "refused (context_qsh_not_allowed) on page, webhook and lifecycle URLs.",
            )
        return
    request_qsh = RequestQsh(inbound_request(method, url)) if method and url else None
    ours = request_qsh.canonical if request_qsh is not None else None
    if ours is not None and as_context is not None:
        report.facts["canonical_request"] = ours
    if kind == "context":
        assert as_context is not None
        token_qsh = parsed.claims.get("qsh")
        bound_here = (
            isinstance(token_qsh, str) and request_qsh is not None and request_qsh(token_qsh)
        )
        report.add(
            as_context.code,  # context_qsh_required
            ERROR,
            "A request token (its qsh is bound to this URL) on a view that takes context "
            "tokens only."
            if bound_here
            else "A request token (qsh computed for some URL) on a view that takes context "
            "tokens only: the front end sent the iframe's token instead of "
            "AP.context.getToken().",
            hint=as_context.hint,
            cause="request_token_on_context_view" if bound_here else "iframe_token_replayed",
            canonical_request=ours,
        )
        return
    error = _qsh_error(parsed, context=False, request_qsh=request_qsh)
    if error is None:
        report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
    elif error.code == "context_qsh_not_allowed":
        report.add(
            error.code,
            ERROR,
            "A context token (qsh 'context-qsh') on a page/webhook/lifecycle URL, which "
            "needs the request token the product sent for that very URL.",
            hint=error.hint,
            cause="context_token_on_page",
        )
    elif error.code == "qsh_mismatch" and request_qsh is None:
        report.add(
            "qsh_not_checked",
            INFO,
            "Give --method and --url to check the qsh against the request it was sent with.",
        )
    elif error.code == "qsh_mismatch" and method and url and ours is not None:
        report_qsh_mismatch(
            report,
            str(parsed.claims.get("qsh")),
            method,
            url,
            connect_settings.BASE_URL,
            ours,
            include_encoding=False,
            replay_hint=(
                "A token is bound to the URL it was made for. An iframe token replayed on "
                "another URL (an AJAX call back to this app)? Use a context token "
                "(AP.context.getToken()) on a context view."
            ),
        )
    else:
        report.add_error(error)
