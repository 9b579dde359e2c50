"""``connect_doctor forge-token``: why a Forge Invocation Token (FIT) is refused, and
why a call came without the OAuth tokens the app needs.

The verdict is the app's own: :func:`forge.invocation.verify_fit`, the check
every Forge view runs. This module branches on the ``ForgeAuthError`` it
raises (its ``code`` and attributes) and adds what the unverified token and
the settings tell: both app ids, how long ago it expired, whether it looks
staging-signed or Isolated Cloud, which host is missing from
``FORGE_API_HOSTS``. A FIT lives ~25 s, so one pasted from a log has usually
expired: it is then checked once more as of its issue time, to find what
else is wrong.

``headers`` (the header *names* a call carried) explain missing
``x-forge-oauth-system`` / ``x-forge-oauth-user`` from the manifest's point
of view. Nothing here prints a token: only a short prefix, the decoded
header and claims, and header names from a known list.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..conf import connect_settings
from ..exceptions import ConnectAuthError, ForgeAuthError
from ..forge.invocation import FIT_ISSUER, MAX_FIT_LENGTH, configured_app_ids, leeway, verify_fit
from ..tokens import ParsedToken, parse_token
from .report import ERROR, INFO, OK, WARNING, Report, iso, token_prefix
from .signing import time_facts
from .token_report import split_scheme

__all__ = ["analyse_forge_token", "header_names", "invocation_kind"]

STAGING_API_HOST = "api.stg.atlassian.com"
SYSTEM_HEADER = "x-forge-oauth-system"
USER_HEADER = "x-forge-oauth-user"
#: Header names the doctor may echo back; any other given name is only counted.
KNOWN_HEADERS = (
    "authorization",
    SYSTEM_HEADER,
    USER_HEADER,
    "x-b3-traceid",
    "x-b3-spanid",
    "content-type",
    "user-agent",
)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def header_names(values: Iterable[str]) -> set[str]:
    """Lower-case header names from ``--headers`` values (comma-separated; ``Name: value``
    and Django's ``HTTP_X_NAME`` are understood; a value is never kept)."""
    names = set()
    for value in values:
        for item in value.split(","):
            name = item.split(":", 1)[0].strip()
            name = name.split()[0] if name.split() else ""
            if name.upper().startswith("HTTP_"):
                name = name[5:].replace("_", "-")
            if _NAME.fullmatch(name):
                names.add(name.lower())
    return names


def invocation_kind(claims: Mapping[str, Any]) -> str:
    """``ui`` (a UI module's invokeRemote), ``trigger`` (an event or scheduled trigger)
    or ``function`` (a Forge function's invokeRemote: no module context), from the claims."""
    module = _app(claims).get("module")
    module_type = module.get("type") if isinstance(module, dict) else None
    if isinstance(module_type, str) and module_type and module_type != "core:endpoint":
        return "ui"
    return "trigger" if claims.get("context") else "function"


def _app(claims: Mapping[str, Any]) -> dict[str, Any]:
    app = claims.get("app")
    return app if isinstance(app, dict) else {}


def _settings_facts() -> dict[str, Any]:
    try:
        app_ids: Any = list(configured_app_ids())
    except ImproperlyConfigured:
        app_ids = connect_settings.FORGE_APP_ID
    return {
        "FORGE_APP_ID": app_ids,
        "FORGE_JWKS_URL": connect_settings.FORGE_JWKS_URL,
        "FORGE_API_HOSTS": list(connect_settings.FORGE_API_HOSTS),
        "FORGE_LEEWAY": leeway(),
        "FORGE_IC_JWKS_URL_TEMPLATE": connect_settings.FORGE_IC_JWKS_URL_TEMPLATE,
        "FORGE_OFFLINE_IMPERSONATION": connect_settings.FORGE_OFFLINE_IMPERSONATION,
        "FORGE_CONTEXT_ARI_FORM": connect_settings.FORGE_CONTEXT_ARI_FORM,
    }


def analyse_forge_token(
    token: str, *, headers: Iterable[str] | None = None, now: float | None = None
) -> Report:
    """Check ``token`` (a FIT, or ``Bearer <FIT>``) as a Forge view would, and explain."""
    now = time.time() if now is None else now
    report = Report("forge-token")
    raw, scheme = split_scheme(token)
    report.facts["token"] = token_prefix(raw)
    report.facts["settings"] = _settings_facts()
    parsed = None
    try:
        parsed = parse_token(raw, max_length=MAX_FIT_LENGTH)
    except ConnectAuthError:
        pass  # verify_fit says why, with its own code
    if parsed is not None:
        report.facts["header"] = parsed.header
        report.facts["claims"] = parsed.claims
        report.facts["times"] = time_facts(parsed, now)
        report.facts["invocation_kind"] = invocation_kind(parsed.claims)
    if scheme == "jwt":
        report.add(
            "token_missing",
            ERROR,
            "The token was given as 'JWT ...': Forge sends 'Authorization: Bearer <FIT>', "
            "and Forge views look for that scheme only.",
            cause="jwt_scheme",
        )
    _verify(report, raw, parsed, now)
    if headers is not None and parsed is not None:
        _check_headers(report, header_names(headers), parsed.claims)
    return report


def _verify(report: Report, raw: str, parsed: ParsedToken | None, now: float) -> None:
    try:
        claims = verify_fit(raw, now=now)
    except ImproperlyConfigured as exc:
        report.add(
            "forge_app_id_missing",
            ERROR,
            str(exc),
            hint='Set ATLASSIAN_CONNECT["FORGE_APP_ID"] to the manifest\'s app.id '
            "(ari:cloud:ecosystem::app/<uuid>, or the bare uuid).",
            cause="not_configured",
        )
        return
    except ForgeAuthError as error:
        if error.code == "token_expired" and parsed is not None:
            _expired(report, error, raw, parsed)
        else:
            _explain(report, error, parsed)
        return
    app = _app(claims)
    report.add(
        "fit_valid",
        OK,
        "A valid Forge Invocation Token for this app: a Forge view accepts it.",
        installation_id=app.get("installationId"),
        api_base_url=app.get("apiBaseUrl"),
        principal=claims.get("principal"),
        module=_app(claims).get("module"),
    )


def _expired(report: Report, error: ForgeAuthError, raw: str, parsed: ParsedToken) -> None:
    """Expired now: check again as of its issue time, then say how old it is."""
    claims = parsed.claims
    iat, exp = claims.get("iat"), claims.get("exp")
    issued = iat if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None
    if issued is not None:
        try:
            verify_fit(raw, now=float(issued))
        except ForgeAuthError as earlier:
            _explain(report, earlier, parsed, as_issued=True)
        else:
            report.add(
                "fit_valid_when_issued",
                OK,
                f"As of its issue time ({iso(float(issued))}) the token passes every other "
                "check: signature, iss, aud, app.id, installation, apiBaseUrl host.",
            )
    seconds = int(getattr(error, "skew", 0) or 0)
    lifetime = int(exp - issued) if issued is not None and isinstance(exp, (int, float)) else None
    report.add(
        error.code,
        ERROR,
        f"The token expired {seconds} s ago. A Forge Invocation Token lives about 25 s"
        + (f" (this one {lifetime} s)" if lifetime is not None else "")
        + f" and FORGE_LEEWAY allows {leeway():g} s more: one copied from a log is "
        "expired by now. If a view refused it with token_expired when it arrived, this "
        "server's clock is behind Forge's, or the request waited (a queue, a proxy) "
        "before the check.",
        hint="Sync the server clock (NTP); FORGE_LEEWAY (at most 30 s) covers small skew. To "
        "check the rest of a token, pass one captured seconds ago.",
        cause="expired",
        expired_seconds_ago=seconds,
        lifetime_s=lifetime,
        leeway_s=leeway(),
    )


def _explain(
    report: Report, error: ForgeAuthError, parsed: ParsedToken | None, *, as_issued: bool = False
) -> None:
    """One finding for a refusal of ``verify_fit``, its cause named from what it carries."""
    claims: Mapping[str, Any] = parsed.claims if parsed is not None else {}
    app = _app(claims)
    prefix = "As of its issue time: " if as_issued else ""
    code, cause, details, message, hint = error.code, "", {}, error.detail, error.hint
    if code == "audience_invalid":
        allowed = list(configured_app_ids())
        aud = claims.get("aud")
        details = {"token_aud": aud, "token_app_id": app.get("id"), "FORGE_APP_ID": allowed}
        if (isinstance(aud, str) and aud in allowed) or (
            isinstance(aud, list) and set(aud) & set(allowed)
        ):
            cause = "app_id_differs_from_aud"
        else:
            cause = "aud_not_app_id"
            message += (
                f" The token is for {aud!r}; this backend is configured for "
                f"{', '.join(allowed) or 'no app'}."
            )
    elif code == "key_invalid":
        cause, extra = _key_cause(parsed, app)
        message += extra
        details = {"kid": parsed.header.get("kid") if parsed else None}
        details["jwks_url"] = connect_settings.FORGE_JWKS_URL
    elif code == "key_unavailable":
        cause = "jwks_unreachable"
    elif code == "product_host_not_allowed":
        cause, extra = _host_cause(str(app.get("apiBaseUrl") or ""))
        message += extra
        details = {
            "api_base_url": app.get("apiBaseUrl"),
            "FORGE_API_HOSTS": list(connect_settings.FORGE_API_HOSTS),
        }
    elif code == "claim_missing":
        cause = "claims"
    elif code == "token_not_yet_valid":
        cause = "clock_skew"
        details = {"skew_seconds": int(getattr(error, "skew", 0) or 0)}
    elif code in ("alg_not_allowed", "issuer_mismatch") and claims.get("iss") != FIT_ISSUER:
        cause, extra = _not_a_fit(claims)
        message += extra
    elif code in ("token_missing", "token_malformed"):
        cause = "not_a_jwt"
    report.add(code, ERROR, prefix + message, hint=hint, cause=cause, **details)


def _key_cause(parsed: ParsedToken | None, app: Mapping[str, Any]) -> tuple[str, str]:
    if parsed is None:
        return "", ""
    label = parsed.claims.get("icLabel")
    if label is not None:
        if not connect_settings.FORGE_IC_JWKS_URL_TEMPLATE:
            return "isolated_cloud", (
                f" It is an Isolated Cloud token (icLabel {str(label)[:50]!r}); set "
                "FORGE_IC_JWKS_URL_TEMPLATE (with '{IC_LABEL}') from Atlassian's IC onboarding "
                "and list the label in FORGE_IC_LABELS to accept it."
            )
        if str(label) not in [str(known) for known in connect_settings.FORGE_IC_LABELS or []]:
            return "isolated_cloud", (
                f" It is an Isolated Cloud token whose icLabel {str(label)[:50]!r} is not on "
                "FORGE_IC_LABELS: only listed labels select a key set. Add it if it is your "
                "Isolated Cloud's label."
            )
        return "isolated_cloud", " It is an Isolated Cloud token (icLabel)."
    kid = parsed.header.get("kid")
    if not isinstance(kid, str) or not kid:
        return "kid_missing", ""
    host = (urlsplit(str(app.get("apiBaseUrl") or "")).hostname or "").lower()
    if host == STAGING_API_HOST:
        return "staging_signed", (
            f" Its app.apiBaseUrl is on {STAGING_API_HOST}: it looks signed by Forge's "
            "staging keys, which FORGE_JWKS_URL (production) does not publish. Only "
            "Atlassian-internal staging sites send these; point a staging deployment at the "
            "staging JWKS, never a production one."
        )
    return "unknown_kid", (
        " Forge did not sign it with a key FORGE_JWKS_URL publishes: a forged or foreign "
        "token (another platform's, a test key), or FORGE_JWKS_URL points at the wrong JWKS."
    )


def _host_cause(api_base_url: str) -> tuple[str, str]:
    parts = urlsplit(api_base_url)
    host = (parts.hostname or "").lower()
    hosts = [h.lower() for h in connect_settings.FORGE_API_HOSTS]
    if host == STAGING_API_HOST:
        return "staging_api_host", (
            f" {STAGING_API_HOST} is Atlassian's staging gateway: list it in FORGE_API_HOSTS "
            "only on a deployment that serves staging."
        )
    if host.endswith(".atlassian.net"):
        return "site_url", " That is a site URL; Forge tokens go to the API gateway only."
    if host in hosts and parts.scheme != "https":
        return "not_https", f" {parts.scheme}:// is allowed only for a listed loopback host."
    return "host_not_listed", f" Add {host!r} to FORGE_API_HOSTS only if it is the gateway."


def _not_a_fit(claims: Mapping[str, Any]) -> tuple[str, str]:
    if "qsh" in claims:
        return "connect_jwt", (
            " This is a Connect JWT (it has a qsh): analyse it with 'connect_doctor token'."
        )
    return "not_a_fit", (
        " This is not a Forge Invocation Token (iss is not 'forge/invocation-token'): perhaps "
        "the x-forge-oauth-system or x-forge-oauth-user value instead of the Authorization one."
    )


def _check_headers(report: Report, names: set[str], claims: Mapping[str, Any]) -> None:
    kind = invocation_kind(claims)
    report.facts["headers"] = sorted(names & set(KNOWN_HEADERS)) + (
        [f"{len(names - set(KNOWN_HEADERS))} other(s)"] if names - set(KNOWN_HEADERS) else []
    )
    where, other = (
        ("remotes[] entry", "endpoint module")
        if kind == "function"
        else ("endpoint module", "remotes[] entry")
    )
    came_from = {
        "ui": "a UI module's invokeRemote",
        "trigger": "a trigger (product or lifecycle event, or scheduledTrigger)",
        "function": "a Forge function's invokeRemote",
    }[kind]
    scopes = (
        " Or permissions.scopes lacks {scope}, or requests no product scope besides the "
        "read:app-*-token ones (then no token is sent at all)."
    )
    cause = "auth_not_on_remote" if kind == "function" else "auth_not_on_endpoint"
    if SYSTEM_HEADER in names:
        report.add("system_token_header_present", OK, f"The call carried {SYSTEM_HEADER}.")
    else:
        report.add(
            "system_token_header_missing",
            ERROR,
            f"The call, from {came_from}, carried no {SYSTEM_HEADER}: as_app() has only the "
            "stored token then. For this kind of call auth.appSystemToken.enabled must sit on "
            f"the {where} (on the {other} it applies to other calls only: `remotes` auth is "
            "for function calls, `endpoint` auth for UI and trigger calls)."
            + scopes.format(scope="read:app-system-token"),
            hint=f"Set auth: {{appSystemToken: {{enabled: true}}}} on the {where} this call "
            "uses, add read:app-system-token and a product scope (e.g. read:jira-work), then "
            "deploy: new scopes are a major version the admin must approve.",
            cause=cause,
            invocation_kind=kind,
        )
    principal = claims.get("principal")
    if principal and USER_HEADER not in names:
        report.add(
            "user_token_header_missing",
            WARNING,
            f"A user is in session ({principal}) but the call carried no {USER_HEADER}: "
            f"as_user() falls back to an offline token. auth.appUserToken.enabled belongs on "
            f"the {where}." + scopes.format(scope="read:app-user-token"),
            hint=f"Set auth: {{appUserToken: {{enabled: true}}}} on the {where} and add "
            "read:app-user-token to permissions.scopes.",
            cause=cause,
        )
    elif principal:
        report.add("user_token_header_present", OK, f"The call carried {USER_HEADER}.")
    elif USER_HEADER not in names:
        report.add(
            "user_token_not_expected",
            INFO,
            f"No user in session (no principal): Forge never sends {USER_HEADER} then "
            "(triggers, events, backend calls); as_user(account_id) uses an offline token.",
        )
    if USER_HEADER not in names and not connect_settings.FORGE_OFFLINE_IMPERSONATION:
        report.add(
            "offline_impersonation_off",
            WARNING,
            f"This call carried no {USER_HEADER}, so as_user() asks the gateway for an offline "
            "token, and FORGE_OFFLINE_IMPERSONATION is off: the manifest forge_manifest writes "
            "allows no impersonation, and the gateway answers 'Could not load permissions'.",
            hint='Set ATLASSIAN_CONNECT["FORGE_OFFLINE_IMPERSONATION"] = True, regenerate the '
            "manifest (manage.py forge_manifest: permissions.scopes in map form with "
            "allowImpersonation: true) and deploy it; read:app-user-token alone is not enough.",
            cause="offline_impersonation_off",
        )
    if "x-b3-traceid" not in names:
        report.add(
            "trace_header_missing",
            INFO,
            "Forge always sends x-b3-traceid: if the list is complete, a proxy drops headers "
            "(then the OAuth tokens may be dropped too) or the call did not come from Forge.",
        )
