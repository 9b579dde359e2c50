"""Diagnostics behind ``manage.py connect_doctor``: why a token, a tenant or a call fails.

Pure analysis functions returning a :class:`Report` of :class:`Finding`
objects (a stable ``code``, a ``severity``, a ``message``, a ``hint``, the
specific ``cause`` and a ``details`` dict). They reuse the checks the app
itself runs (:mod:`tokens`, :mod:`qsh`, :mod:`inbound`), so the doctor names
the same code a view would answer with, then goes further: which secret
signed a token and when it was retired, what the clocks say, and which common
mistake reproduces a token's ``qsh``.

Nothing here prints or returns a shared secret; tokens appear as a short
prefix only (the command shows a whole token only with ``--show-token``).
"""

from __future__ import annotations

import email.utils
import inspect
import itertools
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from . import oauth
from .client import SCOPE_FOR_METHOD, ConnectClient, current_secret, product_message
from .conf import connect_settings
from .exceptions import (
    CODES,
    ConnectAPIError,
    ConnectAuthError,
    ConnectClientError,
    ImpersonationError,
    SecretDecryptionError,
)
from .inbound import RequestQsh, load_tenant, secret_candidates
from .models import AbstractTenant, AccessToken, LifecycleEvent, SharedSecret, get_tenant_model
from .qsh import (
    CONTEXT_QSH,
    canonical_path,
    canonical_query,
    canonical_request,
    hash_canonical_request,
    parse_query,
    percent_encode,
    split_url,
)
from .tokens import (
    ParsedToken,
    SecretCandidate,
    check_audience,
    check_times,
    hs256_signature_valid,
    parse_token,
    require_claims,
    verify_rs256,
)

__all__ = [
    "HINTS",
    "QSH_CAUSES",
    "Finding",
    "QshVariant",
    "Report",
    "analyse_tenant",
    "analyse_token",
    "diagnose_request",
    "explain_outbound_error",
    "find_qsh_mistake",
    "find_tenant",
    "lint_descriptor",
    "qsh_variants",
    "token_prefix",
]

ERROR = "error"
WARNING = "warning"
INFO = "info"
OK = "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)

#: Hints of the diagnostic codes that are not refusal codes of the app
#: (those take their hint from :data:`exceptions.CODES`).
HINTS: dict[str, str] = {
    "iss_is_client_key": (
        "A token for calling the product is issued by the app: set iss to the app key "
        "(APP_KEY, the descriptor's key), not the tenant's clientKey. "
        "ConnectClient(tenant).as_app() does this."
    ),
    "bearer_scheme": (
        "Send app JWTs as 'Authorization: JWT <token>'. 'Bearer' is only for the access "
        "tokens of the impersonation grant."
    ),
    "sso_token": (
        "Jira and Confluence Cloud do not accept identity-provider tokens (Azure AD, Okta, "
        "Google...): the REST API answers 401 'Client must be authenticated to access this "
        "resource'. From a Connect app call as the app (JWT) or as a user (impersonation); "
        "from scripts use an Atlassian API token or OAuth 2.0 (3LO) via api.atlassian.com."
    ),
    "display_url_used": (
        "displayUrl is for links shown to people; REST calls go under the tenant's baseUrl. "
        "Give ConnectClient a path relative to the baseUrl (e.g. '/rest/api/3/myself')."
    ),
    "url_not_allowed": (
        "Calls with a tenant's credentials go to the tenant's baseUrl only: use a path "
        "relative to it."
    ),
    "clock_skew": ("Sync the clocks of the servers with NTP; LEEWAY only hides small differences."),
    "scope_missing": (
        "Add the scope to SCOPES (the descriptor's scopes), then update the app on the site "
        "so that a new 'installed' arrives; or grant the product permission to the app's user."
    ),
    "act_as_user_missing": (
        "Add ACT_AS_USER to SCOPES, then update the app on the site so that a new 'installed' "
        "arrives (the site must see the new scope)."
    ),
    "product_unreachable": "Check the network path from this server to the site.",
    "not_found": "Check the path is relative to the tenant's baseUrl and the resource exists.",
    "rate_limited": "Wait for Retry-After and slow down; retries are exhausted.",
    "product_error": "The product failed; retry later.",
    "bearer_refused": (
        "The product refused the user's access token: the user may have lost access, or the "
        "token was revoked. The next call makes a new grant."
    ),
    "secret_missing": "The secret arrives with the 'installed' callback: reinstall the app.",
    "tenant_not_installed": "Calls are refused until the site installs the app again.",
    "tenant_ambiguous": "Give the clientKey instead of the URL.",
    "descriptor_invalid": "Fix the descriptor settings (DESCRIPTOR / DESCRIPTOR_FILE).",
    "signed_install_missing": (
        "Set apiMigrations 'signed-install': true; without it anyone can forge 'installed' "
        "callbacks. build_descriptor() sets it: serve /atlassian-connect.json from this app."
    ),
    "context_qsh_migration_missing": (
        "Set apiMigrations 'context-qsh': true so that context tokens carry qsh 'context-qsh' "
        "and cannot be replayed on page URLs."
    ),
    "base_url_not_https": "Atlassian Cloud installs apps over https only.",
    "authentication_not_jwt": "Set authentication {'type': 'jwt'}.",
    "lifecycle_missing": "The descriptor must name the lifecycle callbacks this app serves.",
    "lifecycle_unreachable": (
        "Route the lifecycle URLs: path('', include('django_atlassian_connect.urls')), and "
        "keep the descriptor's lifecycle paths relative to BASE_URL."
    ),
    "module_url_unreachable": "The product will load this URL: route it or fix the descriptor.",
    "scope_unknown": (
        "Connect scopes are READ, WRITE, DELETE, PROJECT_ADMIN, SPACE_ADMIN, ADMIN, "
        "ACT_AS_USER and ACCESS_EMAIL_ADDRESSES."
    ),
    "install_refused": (
        "Fix the cause named by the code, then retry the installation from 'Manage apps'."
    ),
    **oauth.HINTS,
}

#: The qsh mistakes the doctor tries, by cause.
QSH_CAUSES: dict[str, str] = {
    "base_path_included": "the app's base path was left in the hashed path (context path included)",
    "wiki_in_qsh": "'/wiki' was left in the hashed path; hash the path relative to the baseUrl",
    "trailing_slash_kept": "the trailing '/' of the path was hashed (it is dropped)",
    "decoded_path": "the path was hashed percent-decoded; the product hashes the raw path",
    "encoded_path": "the path was hashed percent-encoded while it was sent decoded",
    "plus_for_space": "spaces were encoded as '+' instead of '%20'",
    "unsorted_query": "the query parameters were hashed in request order, not sorted by name",
    "jwt_param_hashed": "the 'jwt' query parameter was included in the hash",
    "query_not_decoded": "the query was hashed as sent instead of decoded and RFC 3986-encoded",
    "query_omitted": "the query string was left out of the hash",
    "wrong_method": "the token was made for another HTTP method",
}

CONNECT_SCOPES = frozenset(
    {
        "READ",
        "WRITE",
        "DELETE",
        "PROJECT_ADMIN",
        "SPACE_ADMIN",
        "ADMIN",
        "ACT_AS_USER",
        "ACCESS_EMAIL_ADDRESSES",
    }
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
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
_ADMIN_PATH = re.compile(r"/(permissions|admin|applicationrole|auditing|configuration)(/|$)")
_OTHER_TENANTS_LIMIT = 500


# -- report -------------------------------------------------------------------------


@dataclass
class Finding:
    """One result: a stable ``code``, how bad it is, what and why, and the fix."""

    code: str
    severity: str
    message: str
    hint: str = ""
    cause: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.hint and self.severity in (ERROR, WARNING):
            self.hint = default_hint(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "cause": self.cause,
            "details": _jsonable(self.details),
        }


@dataclass
class Report:
    """What one ``connect_doctor`` sub-command found."""

    command: str
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        code: str,
        severity: str,
        message: str,
        *,
        hint: str = "",
        cause: str = "",
        **details: Any,
    ) -> Finding:
        finding = Finding(code, severity, message, hint=hint, cause=cause, details=details)
        self.findings.append(finding)
        return finding

    def add_error(
        self, error: ConnectAuthError, *, severity: str = ERROR, cause: str = "", **details: Any
    ) -> Finding:
        """A refusal of the app's own checks, with its code, detail and hint."""
        return self.add(error.code, severity, error.detail, hint=error.hint, cause=cause, **details)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def primary(self) -> Finding | None:
        """The first error: the code the app (or the product) answers with."""
        problems = self.problems
        return problems[0] if problems else None

    def get(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def codes(self, severity: str | None = None) -> list[str]:
        return [f.code for f in self.findings if severity is None or f.severity == severity]

    def to_dict(self) -> dict[str, Any]:
        primary = self.primary
        return {
            "command": self.command,
            "healthy": self.healthy,
            "code": primary.code if primary else None,
            "cause": primary.cause if primary else None,
            "facts": _jsonable(self.facts),
            "findings": [f.to_dict() for f in self.findings],
        }


def default_hint(code: str) -> str:
    if code in CODES:
        return CODES[code][1]
    return HINTS.get(code, "")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _dt(value: datetime | None) -> str | None:
    return None if value is None else _iso(value.timestamp())


def token_prefix(token: str, length: int = 12) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    if len(token) <= length:
        return "…" if token else ""
    return f"{token[:length]}… ({len(token)} chars)"


# -- tenants ---------------------------------------------------------------------------


def _normalise_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def _report_unknown_tenant(report: Report, identifier: str) -> None:
    report.add(
        "tenant_unknown",
        ERROR,
        f"No installation has the clientKey, baseUrl or displayUrl {identifier!r}.",
        hint="List installations with 'manage.py connect_tenants --all'.",
        cause="no_installation",
    )


def find_tenant(identifier: str) -> tuple[AbstractTenant | None, list[AbstractTenant]]:
    """The tenant named by a clientKey, a baseUrl (with or without ``/wiki``) or a displayUrl.

    Returns ``(tenant, all_matches)``. Several tenants may share a baseUrl (a site
    import creates a new clientKey): the installed, most recently installed one wins.
    """
    manager = get_tenant_model()._default_manager
    tenant = manager.filter(client_key=identifier).first()
    if tenant is not None:
        return tenant, [tenant]
    if "://" not in identifier:
        return None, []
    wanted = _normalise_url(identifier)
    matches = [
        t
        for t in manager.order_by("-is_installed", "-installed_at")
        if wanted
        in {
            _normalise_url(t.base_url),
            _normalise_url(t.base_url).removesuffix("/wiki"),
            _normalise_url(t.display_url or "-"),
        }
    ]
    return (matches[0] if matches else None), matches


def _tenant_facts(tenant: AbstractTenant) -> dict[str, Any]:
    state = "installed" if tenant.is_installed else "uninstalled"
    if tenant.is_installed and not tenant.is_enabled:
        state = "disabled"
    return {
        "client_key": tenant.client_key,
        "base_url": tenant.base_url,
        "display_url": tenant.display_url or None,
        "product_type": tenant.product_type or None,
        "state": state,
        "installed_at": _dt(tenant.installed_at),
        "oauth_client_id": "present" if tenant.oauth_client_id else "missing",
    }


def _secret_history(tenant: AbstractTenant) -> list[dict[str, Any]]:
    rows = SharedSecret.objects.filter(tenant_id=tenant.pk).order_by("became_current_at", "pk")
    return [
        {
            "fingerprint": row.fingerprint,
            "state": "current"
            if row.retired_at is None
            else ("retired, material purged" if row.purged_at else "retired"),
            "current_since": _dt(row.became_current_at),
            "retired_at": _dt(row.retired_at),
            "purged_at": _dt(row.purged_at),
        }
        for row in rows
    ]


def _refused_installs_since(tenant: AbstractTenant, since: Any) -> list[LifecycleEvent]:
    events = LifecycleEvent.objects.filter(
        client_key=tenant.client_key, event_type="installed", accepted=False
    )
    if since is not None:
        events = events.filter(received_at__gte=since)
    return list(events.order_by("-received_at")[:5])


def _describe_event(event: LifecycleEvent) -> dict[str, Any]:
    return {
        "event": event.event_type,
        "received_at": _dt(event.received_at),
        "accepted": event.accepted,
        "status": event.status_code,
        "code": event.error_code or None,
        "detail": event.detail,
        "secret": event.secret_fingerprint or None,
        "secret_rotated": event.secret_rotated,
    }


# -- tokens: decoding and roles -----------------------------------------------------


def split_scheme(value: str) -> tuple[str, str | None]:
    """``"Bearer abc"`` / ``"Authorization: JWT abc"`` -> ``("abc", "bearer")``."""
    text = value.strip()
    if text.lower().startswith("authorization:"):
        text = text.split(":", 1)[1].strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() in ("jwt", "bearer"):
        return rest.strip(), scheme.lower()
    return text, None


def _looks_like_sso(parsed: ParsedToken) -> str | None:
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


def _time_facts(parsed: ParsedToken, now: float) -> dict[str, Any]:
    facts: dict[str, Any] = {"now": _iso(now)}
    for name in ("iat", "nbf", "exp"):
        value = parsed.claims.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            offset = int(value - now)
            facts[name] = f"{_iso(value)} ({'+' if offset >= 0 else ''}{offset} s)"
    iat, exp = parsed.claims.get("iat"), parsed.claims.get("exp")
    if isinstance(iat, (int, float)) and isinstance(exp, (int, float)):
        facts["lifetime_s"] = int(exp - iat)
    return facts


def _check_token_times(report: Report, parsed: ParsedToken, now: float, *, who: str) -> None:
    leeway = connect_settings.LEEWAY
    try:
        check_times(parsed, now=now, leeway=leeway)
    except ConnectAuthError as error:
        skew = error.extra.get("skew")
        if error.code == "token_not_yet_valid":
            report.add_error(
                error,
                cause="clock_skew",
                skew_seconds=int(skew or 0),
                explanation=(
                    f"The token was issued {int(skew or 0)} s in the future by our clock: the "
                    f"clock of {who} is about {int(skew or 0)} s ahead of ours."
                ),
            )
        elif error.code == "token_expired":
            iat = parsed.claims.get("iat")
            lifetime = parsed.claims.get("exp", 0) - iat if isinstance(iat, (int, float)) else None
            report.add_error(
                error,
                cause="expired",
                expired_seconds_ago=int(skew or 0),
                explanation=(
                    "If the token was made just now, the clock of "
                    f"{who} is about {int(skew or 0)} s behind ours (clock skew); otherwise it "
                    "is simply old: get a fresh one."
                ),
                lifetime_s=lifetime,
            )
        else:
            report.add_error(error)
    else:
        report.add("times_valid", OK, f"iat/exp are valid by our clock (leeway {leeway} s).")


def _verify_with(candidates: list[SecretCandidate], parsed: ParsedToken) -> SecretCandidate | None:
    for candidate in candidates:
        if hs256_signature_valid(parsed, candidate.secret):
            return candidate
    return None


def _other_tenant_signing(parsed: ParsedToken, tenant: AbstractTenant | None) -> str | None:
    """The clientKey of another tenant whose secret signed the token (mixed-up tenants)."""
    manager = get_tenant_model()._default_manager
    others = manager.exclude(pk=tenant.pk) if tenant is not None else manager.all()
    for other in others.order_by("-installed_at")[:_OTHER_TENANTS_LIMIT]:
        try:
            if _verify_with(secret_candidates(other), parsed) is not None:
                return other.client_key
        except SecretDecryptionError:
            continue
    return None


def _purged_count(tenant: AbstractTenant) -> int:
    return SharedSecret.objects.filter(tenant_id=tenant.pk, purged_at__isnull=False).count()


def _check_signature(
    report: Report, parsed: ParsedToken, tenant: AbstractTenant, now: float, *, outbound: bool
) -> None:
    """Which of the tenant's secrets signed the token, and what that means."""
    try:
        candidates = secret_candidates(tenant)
    except SecretDecryptionError as exc:
        report.add(
            "secret_undecryptable",
            ERROR,
            str(exc),
            hint="Put the old key back into ENCRYPTION_KEYS, then run connect_reencrypt.",
        )
        return
    current = next((c for c in candidates if c.retired_at is None), None)
    report.facts["secrets_tried"] = [
        f"{c.label} ({'current' if c.retired_at is None else 'retired ' + str(_iso(c.retired_at))})"
        for c in candidates
    ]
    grace = connect_settings.SECRET_GRACE_PERIOD
    signer = _verify_with(candidates, parsed)
    if signer is not None and signer.retired_at is None:
        report.add(
            "signature_valid",
            OK,
            f"Signed with the current shared secret {signer.label}.",
            secret=signer.label,
        )
        return
    if signer is not None:
        assert signer.retired_at is not None
        age = now - signer.retired_at
        details: dict[str, Any] = {
            "secret": signer.label,
            "retired_at": _iso(signer.retired_at),
            "retired_seconds_ago": int(age),
            "current_secret": current.label if current else None,
        }
        if outbound:
            report.add(
                "secret_retired",
                ERROR,
                f"The token was signed with the shared secret {signer.label}, retired at "
                f"{_iso(signer.retired_at)} when a later 'installed' callback rotated it. The "
                "product accepts only the secret of the latest install"
                + (f" ({current.label})" if current else "")
                + ": it answers 401.",
                hint="The signer holds a stale secret (a newer 'installed' was missed): sign "
                "with the tenant's current secret, loaded per call, not cached.",
                cause="stale_secret",
                **details,
            )
        elif age <= grace:
            report.add(
                "secret_retired",
                WARNING,
                f"The token was signed with the shared secret {signer.label}, retired at "
                f"{_iso(signer.retired_at)}; accepted for the grace period of {grace} s "
                f"({int(grace - age)} s left).",
                hint="A browser tab open since before the reinstall: fine until the grace "
                "period ends; reloading gives a token signed with the current secret.",
                cause="within_grace",
                grace_period=grace,
                **details,
            )
        else:
            report.add(
                "secret_retired",
                ERROR,
                f"The token was signed with the shared secret {signer.label}, retired at "
                f"{_iso(signer.retired_at)} when a later 'installed' callback rotated it, "
                f"{int(age)} s ago: beyond the grace period of {grace} s.",
                cause="beyond_grace",
                grace_period=grace,
                **details,
            )
        return
    # Verifies with none of this tenant's secrets.
    other = _other_tenant_signing(parsed, tenant)
    purged = _purged_count(tenant)
    refused = _refused_installs_since(tenant, _current_since(tenant))
    if other is not None:
        cause, message = (
            "signed_by_other_tenant",
            f"The token's signature verifies with the secret of another installation "
            f"({other}), not with {tenant.client_key}'s: the signer mixed up tenants.",
        )
    elif refused and not outbound:
        cause, message = (
            "missed_installed",
            "The signature verifies with none of this installation's secrets, and an "
            f"'installed' delivery was refused at {refused[0].received_at:%Y-%m-%dT%H:%M:%SZ} "
            f"({refused[0].error_code}): the site may hold a newer secret we never stored.",
        )
    else:
        cause, message = (
            "unknown_secret",
            "The token's HS256 signature verifies with none of this installation's secrets "
            f"({len(candidates)} held"
            + (f", {purged} retired one(s) purged" if purged else "")
            + ").",
        )
    report.add(
        "signature_invalid",
        ERROR,
        message,
        cause=cause,
        current_secret=current.label if current else None,
        refused_installs=[_describe_event(e) for e in refused],
        purged_secrets=purged,
    )


def _current_since(tenant: AbstractTenant) -> Any:
    row = SharedSecret.objects.filter(tenant_id=tenant.pk, retired_at__isnull=True).first()
    return row.became_current_at if row else None


# -- qsh --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QshVariant:
    """A canonical request built with some mistakes (none for the right one)."""

    mistakes: tuple[str, ...]
    canonical: str

    @property
    def cause(self) -> str:
        return "+".join(self.mistakes)

    def describe(self) -> str:
        return "; ".join(QSH_CAUSES.get(m, m) for m in self.mistakes)


def _ordered_query(params: Iterable[tuple[str, str]], *, keep_jwt: bool) -> str:
    """Parameters encoded in the order given: the "unsorted" mistake."""
    return "&".join(
        f"{percent_encode(n)}={percent_encode(v)}" for n, v in params if keep_jwt or n != "jwt"
    )


def _sorted_query_with_jwt(params: list[tuple[str, str]]) -> str:
    """The canonical query with the ``jwt`` parameter hashed too."""
    items = [i for i in canonical_query(params).split("&") if i]
    values = sorted(v for n, v in params if n == "jwt")
    if values:
        items.append("jwt=" + ",".join(percent_encode(v) for v in values))
    items.sort(key=lambda item: item.split("=", 1)[0])
    return "&".join(items)


def _raw_query(raw_query: str) -> str:
    pieces = sorted(
        (name, value)
        for name, _, value in (p.partition("=") for p in raw_query.split("&") if p)
        if name != "jwt"
    )
    return "&".join(f"{n}={v}" for n, v in pieces)


def _path_variants(
    path: str, base_url: str | None, *, include_encoding: bool
) -> list[tuple[tuple[str, ...], str]]:
    prefix = split_url(base_url)[0].rstrip("/") if base_url else ""
    base_cause = "wiki_in_qsh" if prefix == "/wiki" else "base_path_included"
    right = canonical_path(path, base_url)
    variants: list[tuple[tuple[str, ...], str]] = [((), right)]
    if prefix:
        if path == prefix or path.startswith(prefix + "/"):
            variants.append(((base_cause,), canonical_path(path)))
        else:
            variants.append(((base_cause,), canonical_path(prefix + "/" + path.lstrip("/"))))
    if path.endswith("/") and right != "/":
        variants.append((("trailing_slash_kept",), right + "/"))
    if include_encoding:
        decoded = unquote(path)
        if decoded != path:
            variants.append((("decoded_path",), canonical_path(decoded, base_url)))
        encoded = quote(decoded, safe="/!$&'()*+,;=:@~")
        if encoded not in (path, decoded):
            variants.append((("encoded_path",), canonical_path(encoded, base_url)))
    return variants


def _query_variants(raw_query: str) -> list[tuple[tuple[str, ...], str]]:
    params = parse_query(raw_query)
    variants: list[tuple[tuple[str, ...], str]] = []
    for unsorted, keep_jwt, plus in itertools.product((False, True), repeat=3):
        if unsorted:
            query = _ordered_query(params, keep_jwt=keep_jwt)
        elif keep_jwt:
            query = _sorted_query_with_jwt(params)
        else:
            query = canonical_query(params)
        if plus:
            query = query.replace("%20", "+")
        mistakes = tuple(
            name
            for name, on in (
                ("unsorted_query", unsorted),
                ("jwt_param_hashed", keep_jwt),
                ("plus_for_space", plus),
            )
            if on
        )
        variants.append((mistakes, query))
    variants.append((("query_not_decoded",), _raw_query(raw_query)))
    variants.append((("query_omitted",), ""))
    return variants


def qsh_variants(
    method: str, url: str, base_url: str | None = None, *, include_encoding: bool = True
) -> list[QshVariant]:
    """The right canonical request first, then the common mistakes, fewest mistakes first."""
    path, raw_query = split_url(url)
    method = method.upper()
    right = canonical_request(method, url, base_url)
    seen = {right}
    variants = [QshVariant((), right)]
    combos: list[QshVariant] = []
    methods = [(method, ())] + [(m, ("wrong_method",)) for m in _METHODS if m != method]
    for (m, m_mistakes), (p_mistakes, p), (q_mistakes, q) in itertools.product(
        methods,
        _path_variants(path, base_url, include_encoding=include_encoding),
        _query_variants(raw_query),
    ):
        canonical = f"{m}&{p}&{q}"
        mistakes = (*p_mistakes, *q_mistakes, *m_mistakes)
        combos.append(QshVariant(mistakes, canonical))
    combos.sort(key=lambda v: len(v.mistakes))  # stable: singles in a fixed order first
    for variant in combos:
        if variant.canonical not in seen:
            seen.add(variant.canonical)
            variants.append(variant)
    return variants


def find_qsh_mistake(
    token_qsh: str,
    method: str,
    url: str,
    base_url: str | None = None,
    *,
    include_encoding: bool = True,
) -> QshVariant | None:
    """The variant (right or mistaken) whose hash is ``token_qsh``, if any."""
    for variant in qsh_variants(method, url, base_url, include_encoding=include_encoding):
        if hash_canonical_request(variant.canonical) == token_qsh:
            return variant
    return None


def _inbound_request(method: str, url: str) -> HttpRequest:
    """A bare request as Django would build it for ``url`` (for :class:`RequestQsh`)."""
    raw_path, query = split_url(url)
    request = HttpRequest()
    request.method = method.upper()
    request.path = unquote(raw_path) or "/"
    request.path_info = request.path
    request.META["QUERY_STRING"] = query
    request.META["REQUEST_URI"] = raw_path
    return request


def endpoint_kind(url: str) -> tuple[str | None, str]:
    """``("context" | "request" | None, view name)`` of the view our URLconf routes ``url`` to."""
    path = unquote(split_url(url)[0]) or "/"
    base_path = urlsplit(connect_settings.BASE_URL).path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    route = _route(path)
    if route is None:
        return None, ""
    func, name = route
    name = name or getattr(func, "__name__", "")
    view_class = getattr(func, "cls", None) or getattr(func, "view_class", None)
    classes = getattr(view_class, "authentication_classes", None)
    if classes:
        flags = [c.context_tokens for c in classes if hasattr(c, "context_tokens")]
        if flags:
            return ("context" if all(flags) else "request"), name
    if _lifecycle_event_of(func):
        return "request", name
    code = getattr(func, "__code__", None)
    if hasattr(func, "__wrapped__") and code is not None and "context" in code.co_freevars:
        context = inspect.getclosurevars(func).nonlocals.get("context")
        if isinstance(context, bool):
            return ("context" if context else "request"), name
    return None, name


def _check_inbound_qsh(
    report: Report, parsed: ParsedToken, method: str | None, url: str | None, endpoint: str
) -> None:
    token_qsh = parsed.claims.get("qsh")
    if token_qsh in (None, ""):
        report.add("qsh_missing", ERROR, "The token has no qsh claim.")
        return
    kind: str | None = None if endpoint == "auto" else endpoint
    if url and kind is None:
        kind, view = endpoint_kind(url)
        report.facts["endpoint"] = (
            f"{view or '?'}: {kind} tokens" if kind else f"{view or 'not routed'}: unknown kind"
        )
    if token_qsh == CONTEXT_QSH:
        if kind == "context":
            report.add("qsh_valid", OK, "A context token on a view that takes context tokens.")
        elif kind == "request":
            report.add(
                "context_qsh_not_allowed",
                ERROR,
                "A context token (qsh 'context-qsh') on a page/webhook/lifecycle URL, which "
                "needs the request token the product sent for that very URL.",
                cause="context_token_on_page",
            )
        else:
            report.add(
                "context_token",
                INFO,
                "A context token (qsh 'context-qsh'): accepted only by views that take context "
                "tokens (ConnectContextJWTAuthentication, @connect_jwt_required(context=True)); "
                "refused (context_qsh_not_allowed) on page, webhook and lifecycle URLs.",
            )
        return
    if not method or not url:
        report.add(
            "qsh_not_checked",
            INFO,
            "Give --method and --url to check the qsh against the request it was sent with.",
        )
        return
    request_qsh = RequestQsh(_inbound_request(method, url))
    ours = request_qsh.canonical
    report.facts["canonical_request"] = ours
    if isinstance(token_qsh, str) and request_qsh(token_qsh):
        if kind == "context":
            report.add(
                "context_qsh_required",
                ERROR,
                "A request token (its qsh is bound to this URL) on a view that takes context "
                "tokens only.",
                cause="request_token_on_context_view",
                canonical_request=ours,
            )
        else:
            report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
        return
    if kind == "context":
        report.add(
            "context_qsh_required",
            ERROR,
            "A request token (qsh computed for some URL) on a view that takes context tokens "
            "only: the front end sent the iframe's token instead of AP.context.getToken().",
            cause="iframe_token_replayed",
            canonical_request=ours,
        )
        return
    _qsh_mismatch(
        report,
        str(token_qsh),
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


def _qsh_mismatch(
    report: Report,
    token_qsh: str,
    method: str,
    url: str,
    base_url: str | None,
    ours: str,
    *,
    include_encoding: bool,
    replay_hint: str,
) -> None:
    variant = find_qsh_mistake(token_qsh, method, url, base_url, include_encoding=include_encoding)
    if variant is not None and variant.mistakes:
        report.add(
            "qsh_mismatch",
            ERROR,
            f"The token's qsh is the hash of {variant.canonical!r}, not of {ours!r}: "
            f"{variant.describe()}.",
            hint="Compute the qsh with the rules of docs/reference/qsh (or "
            "django_atlassian_connect.qsh.query_string_hash(method, url, base_url)).",
            cause=variant.cause,
            canonical_request=ours,
            signer_canonical_request=variant.canonical,
            mistakes=list(variant.mistakes),
        )
        return
    report.add(
        "qsh_mismatch",
        ERROR,
        f"The token's qsh was computed for another request than {ours!r}; none of the common "
        "mistakes reproduces it.",
        hint=replay_hint,
        cause="other_request",
        canonical_request=ours,
        token_qsh=token_qsh,
    )


# -- tokens: the analysis -----------------------------------------------------------------


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
    report.facts["times"] = _time_facts(parsed, now)
    sso = _looks_like_sso(parsed)
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
        _analyse_outbound(report, parsed, scheme, method, url, client_key, now)
    else:
        _analyse_inbound(report, parsed, scheme, method, url, endpoint, now)
    return report


def _analyse_inbound(
    report: Report,
    parsed: ParsedToken,
    scheme: str | None,
    method: str | None,
    url: str | None,
    endpoint: str,
    now: float,
) -> None:
    if scheme == "bearer":
        report.add(
            "token_missing",
            ERROR,
            "The token was sent as 'Authorization: Bearer ...': Connect views look for "
            "'Authorization: JWT ...' (or a jwt query parameter) and do not see it.",
            hint="Send it as 'Authorization: JWT <token>'.",
            cause="bearer_scheme",
        )
    alg = parsed.alg
    if alg == "RS256" and parsed.header.get("kid"):
        _analyse_install_token(report, parsed, method, url, now)
        return
    if alg != "HS256":
        report.add(
            "alg_not_allowed",
            ERROR,
            f"The token's algorithm is {alg!r}; product tokens are HS256 (signed installs "
            "RS256 with a kid).",
        )
        return
    iss = parsed.issuer
    app_key = connect_settings.APP_KEY
    try:
        require_claims(parsed, ("iss",))
    except ConnectAuthError as error:
        report.add_error(error)
        return
    if iss == app_key:
        report.add(
            "tenant_unknown",
            ERROR,
            f"The token's iss is this app's key {app_key!r}: it is a token an app made for "
            "calling the product (outbound), not one the product sent to this app.",
            hint="The product signs inbound tokens with iss = the tenant's clientKey. Check "
            "what sent this token; to analyse it as an outbound token add --outbound.",
            cause="iss_is_app_key",
        )
        return
    if not isinstance(iss, str) or not iss:
        report.add("token_malformed", ERROR, "The token's iss claim must be a clientKey string.")
        return
    tenant = _load_inbound_tenant(report, iss)
    if tenant is None:
        return
    _check_signature(report, parsed, tenant, now, outbound=False)
    _check_token_times(report, parsed, now, who="the product (or whoever signed it)")
    _check_inbound_qsh(report, parsed, method, url, endpoint)


def _load_inbound_tenant(report: Report, client_key: str) -> AbstractTenant | None:
    tenant: AbstractTenant | None
    try:
        tenant = load_tenant(client_key)
    except ConnectAuthError as error:
        if error.code == "tenant_unknown":
            similar = _similar_tenants(client_key)
            report.add_error(
                error,
                cause="no_installation",
                similar=similar,
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
                    event=_describe_event(event),
                )
            return None
        report.add_error(error)
        tenant = get_tenant_model()._default_manager.filter(client_key=client_key).first()
        if tenant is None:  # pragma: no cover - raced away
            return None
    report.facts["tenant"] = _tenant_facts(tenant)
    return tenant


def _similar_tenants(client_key: str) -> list[str]:
    manager = get_tenant_model()._default_manager
    return [t.client_key for t in manager.filter(client_key__iexact=client_key.strip())][:3]


def _analyse_install_token(
    report: Report, parsed: ParsedToken, method: str | None, url: str | None, now: float
) -> None:
    """A signed-install token (installed / uninstalled): RS256 with Atlassian's key."""
    from . import keys
    from .lifecycle import app_base_urls

    report.facts["kind"] = "signed install (RS256)"
    iss = parsed.issuer
    tenant = (
        get_tenant_model()._default_manager.filter(client_key=iss).first()
        if isinstance(iss, str)
        else None
    )
    if tenant is not None:
        report.facts["tenant"] = _tenant_facts(tenant)
    try:
        kid = keys.validate_kid(parsed.header.get("kid"))
        verify_rs256(parsed, keys.fetch_install_key(kid, tenant.base_url if tenant else ""))
    except ConnectAuthError as error:
        report.add_error(error)
    else:
        report.add("signature_valid", OK, "Signed by the Atlassian install key named by kid.")
    _check_token_times(report, parsed, now, who="Atlassian")
    try:
        check_audience(parsed, app_base_urls())
    except ConnectAuthError as error:
        report.add_error(error, cause="base_url_changed")
    if method and url:
        ours = canonical_request(method, url, connect_settings.BASE_URL)
        report.facts["canonical_request"] = ours
        token_qsh = parsed.claims.get("qsh")
        if token_qsh == hash_canonical_request(ours):
            report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
        elif isinstance(token_qsh, str):
            _qsh_mismatch(
                report,
                token_qsh,
                method,
                url,
                connect_settings.BASE_URL,
                ours,
                include_encoding=False,
                replay_hint="The install token was made for another lifecycle URL.",
            )


def _tenant_for_outbound(
    report: Report, parsed: ParsedToken, client_key: str | None, url: str | None
) -> AbstractTenant | None:
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
        prefix = "urn:atlassian:connect:clientid:"
        if iss.startswith(prefix):
            tenant = manager.filter(oauth_client_id=iss[len(prefix) :]).first()
            if tenant is not None:
                return tenant
    if url and "://" in url:
        origin = _origin(url)
        for candidate in manager.order_by("-is_installed", "-installed_at"):
            if origin in (_origin(candidate.base_url), _origin(candidate.display_url or "x://")):
                return candidate
    report.add(
        "tenant_not_identified",
        WARNING,
        "Could not tell which installation the token is for: the signature is not checked.",
        hint="Add --client-key K (the tenant's clientKey or baseUrl).",
    )
    return None


def _analyse_outbound(
    report: Report,
    parsed: ParsedToken,
    scheme: str | None,
    method: str | None,
    url: str | None,
    client_key: str | None,
    now: float,
) -> None:
    app_key = connect_settings.APP_KEY
    iss = parsed.issuer
    tenant = _tenant_for_outbound(report, parsed, client_key, url)
    if tenant is not None:
        report.facts["tenant"] = _tenant_facts(tenant)
    if isinstance(iss, str) and iss.startswith("urn:atlassian:connect:clientid:"):
        _analyse_assertion(report, parsed, tenant, now)
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
    known_client_keys = {tenant.client_key} if tenant is not None else set()
    if isinstance(iss, str) and (
        iss in known_client_keys
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
    try:
        require_claims(parsed, ("iss", "iat", "exp", "qsh"))
    except ConnectAuthError as error:
        report.add_error(error)
    if tenant is not None and parsed.alg == "HS256":
        _check_signature(report, parsed, tenant, now, outbound=True)
    _check_token_times(report, parsed, now, who="the signer")
    if url and tenant is not None:
        _check_outbound_url(report, url, tenant)
    _check_outbound_qsh(report, parsed, method, url, tenant)


def _check_outbound_url(report: Report, url: str, tenant: AbstractTenant) -> None:
    if "://" not in url:
        return
    base = tenant.base_url.rstrip("/")
    origin, base_origin = _origin(url), _origin(base)
    if origin == base_origin:
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
    if tenant.display_url and origin == _origin(tenant.display_url):
        report.add(
            "display_url_used",
            ERROR,
            f"The call goes to the displayUrl {tenant.display_url} ({origin}); the REST API is "
            f"under the baseUrl {base}.",
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


def _check_outbound_qsh(
    report: Report,
    parsed: ParsedToken,
    method: str | None,
    url: str | None,
    tenant: AbstractTenant | None,
) -> None:
    token_qsh = parsed.claims.get("qsh")
    if token_qsh in (None, ""):
        return  # claim_missing was reported
    if token_qsh == CONTEXT_QSH:
        report.add(
            "context_qsh_not_allowed",
            ERROR,
            "The token carries qsh 'context-qsh': the product's REST API needs the hash of the "
            "request.",
            hint="Compute the qsh over the method, path and query of the call.",
            cause="context_qsh_outbound",
        )
        return
    if not method or not url:
        report.add(
            "qsh_not_checked",
            INFO,
            "Give --method and --url to check the qsh against the call.",
        )
        return
    base_url = tenant.base_url if tenant is not None else None
    ours = canonical_request(method, url, base_url)
    report.facts["canonical_request"] = ours
    if token_qsh == hash_canonical_request(ours):
        report.add("qsh_valid", OK, f"The qsh matches {ours!r}.")
        return
    _qsh_mismatch(
        report,
        str(token_qsh),
        method,
        url,
        base_url,
        ours,
        include_encoding=True,
        replay_hint="A token is bound to one call: make a new token (with its own qsh) per call.",
    )


def _analyse_assertion(
    report: Report, parsed: ParsedToken, tenant: AbstractTenant | None, now: float
) -> None:
    """The JWT-bearer assertion of the impersonation grant."""
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
        if not tenant.oauth_client_id:
            report.add(
                "oauth_client_id_missing",
                ERROR,
                f"The installation {tenant.client_key} has no oauthClientId.",
            )
        elif parsed.issuer != f"urn:atlassian:connect:clientid:{tenant.oauth_client_id}":
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
        wanted = oauth.authorization_server_url(tenant)
        aud = claims.get("aud")
        aud = aud[0] if isinstance(aud, list) and aud else aud
        if not isinstance(aud, str) or aud.rstrip("/") != wanted:
            retired = isinstance(aud, str) and "auth.atlassian.io" in aud
            report.add(
                "audience_invalid",
                ERROR,
                f"aud {aud!r} is not the authorization server {wanted!r}"
                + (": auth.atlassian.io is retired." if retired else "."),
                hint="aud is the URL of the authorization server the grant is posted to.",
                cause="retired_authorization_server" if retired else "aud_not_token_endpoint",
            )
        if parsed.alg == "HS256":
            _check_signature(report, parsed, tenant, now, outbound=True)
    sub = claims.get("sub")
    if isinstance(sub, str) and not sub.startswith("urn:atlassian:connect:useraccountid:"):
        report.add(
            "claim_missing",
            ERROR,
            f"sub {sub!r} must be 'urn:atlassian:connect:useraccountid:<accountId>'.",
            cause="sub_not_account_urn",
        )
    _check_token_times(report, parsed, now, who="the signer")


# -- outbound outcomes -----------------------------------------------------------------


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp (seconds) or a datetime as an aware datetime."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _product_clock_skew(response: requests.Response, now: float) -> float | None:
    """Product clock minus ours, from the response's ``Date`` header."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        product = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return product - now


def _needed_scope(method: str, path: str) -> str:

    if _ADMIN_PATH.search(path):
        return "ADMIN"
    return SCOPE_FOR_METHOD.get(method.upper(), "READ")


def explain_outbound_error(
    exc: Exception,
    tenant: AbstractTenant,
    *,
    mode: str = "app",
    now: float | None = None,
) -> Finding:
    """Why an outbound call as the app or as a user failed, as one finding."""
    now = time.time() if now is None else now
    scopes = [str(s).upper() for s in connect_settings.SCOPES]
    if isinstance(exc, ImpersonationError):
        if exc.code == "unauthorized_client":
            declared = "ACT_AS_USER" in scopes
            return Finding(
                "act_as_user_missing",
                ERROR,
                f"The authorization server refused the grant: {exc}",
                cause="install_not_upgraded" if declared else "scope_not_declared",
                details={
                    "scopes": scopes,
                    "explanation": (
                        "SCOPES has ACT_AS_USER, so the site still runs an older install: update "
                        "the app on the site so that a new 'installed' arrives."
                        if declared
                        else "SCOPES lacks ACT_AS_USER."
                    ),
                },
            )
        return Finding(
            exc.code,
            ERROR,
            str(exc),
            hint=exc.hint or default_hint(exc.code),
            cause=exc.code,
        )
    if isinstance(exc, ConnectClientError):
        if exc.code == "url_not_allowed" and tenant.display_url:
            url = re.search(r"credentials to (\S+): it is", str(exc))
            target = url.group(1) if url else ""
            if target and _origin(target) == _origin(tenant.display_url):
                return Finding(
                    "display_url_used",
                    ERROR,
                    f"{target} is under the displayUrl {tenant.display_url}; the REST API is "
                    f"under the baseUrl {tenant.base_url}. Nothing was sent.",
                    cause="display_url_as_api_base",
                    details={"base_url": tenant.base_url, "display_url": tenant.display_url},
                )
        return Finding(exc.code, ERROR, str(exc), hint=exc.hint or default_hint(exc.code))
    if isinstance(exc, ConnectAPIError) and exc.response is not None:
        response: requests.Response = exc.response
        request = response.request
        method = (request.method or "GET").upper()
        path = urlsplit(request.url or "").path
        product_says = product_message(response)
        details: dict[str, Any] = {"status": response.status_code, "product_says": product_says}
        if response.status_code == 401:
            skew = _product_clock_skew(response, now)
            details["product_clock_skew_s"] = None if skew is None else int(skew)
            if mode == "user":
                return Finding(
                    "bearer_refused",
                    ERROR,
                    f"{method} {path} -> 401: the product refused the user's access token.",
                    cause="access_token_refused",
                    details=details,
                )
            if skew is not None and abs(skew) > connect_settings.LEEWAY:
                return Finding(
                    "clock_skew",
                    ERROR,
                    f"{method} {path} -> 401, and the product's clock (Date header) is "
                    f"{int(skew)} s {'ahead of' if skew > 0 else 'behind'} ours: our tokens "
                    "look issued in the future or already expired.",
                    cause="server_clock",
                    details=details,
                )
            signing = getattr(request, "connect_signing", {}) or {}
            since = _as_datetime(signing.get("current_since"))
            refused = _refused_installs_since(tenant, since)
            details.update(
                {
                    "iss": connect_settings.APP_KEY,
                    "secret": signing.get("fingerprint"),
                    "secret_current_since": _dt(since),
                    "canonical_request": signing.get("canonical"),
                    "refused_installs": [_describe_event(e) for e in refused],
                }
            )
            return Finding(
                "signature_invalid",
                ERROR,
                f"{method} {path} -> 401. We signed with iss {connect_settings.APP_KEY!r} and "
                f"the shared secret {signing.get('fingerprint', '?')}"
                + (f" (current since {since:%Y-%m-%dT%H:%M:%SZ})" if since else "")
                + ", and our clock agrees with the product's: the site holds another shared "
                "secret (a newer 'installed' was missed"
                + (f" or refused: {refused[0].error_code}" if refused else "")
                + ").",
                hint="Reinstall (or update) the app on the site so that its 'installed' "
                "callback brings the current secret; check the lifecycle events.",
                cause="stale_secret",
                details=details,
            )
        if response.status_code == 403:
            needed = _needed_scope(method, path)
            declared = needed in scopes or (
                needed == "READ" and bool({"WRITE", "ADMIN"} & set(scopes))
            )
            details.update({"needed_scope": needed, "scopes": scopes})
            return Finding(
                "scope_missing",
                ERROR,
                f"{method} {path} -> 403"
                + (
                    f": SCOPES lacks {needed}, which this call needs."
                    if not declared
                    else f": SCOPES has {needed}, so the site still runs an install without it, "
                    f"or the {'app' if mode == 'app' else 'user'} lacks the product permission."
                ),
                cause=needed if not declared else "permission_or_not_upgraded",
                details=details,
            )
        if response.status_code == 404:
            return Finding(
                "not_found",
                ERROR,
                f"{method} {path} -> 404.",
                hint=f"Paths are relative to the baseUrl {tenant.base_url}; check the resource "
                "exists and is visible to the caller.",
                details=details,
            )
        if response.status_code == 429:
            details["retry_after"] = response.headers.get("Retry-After")
            return Finding("rate_limited", ERROR, f"{method} {path} -> 429.", details=details)
        return Finding(
            "product_error",
            ERROR,
            f"{method} {path} -> {response.status_code}.",
            hint=exc.hint or HINTS["product_error"],
            details=details,
        )
    if isinstance(exc, requests.RequestException):
        return Finding(
            "product_unreachable",
            ERROR,
            f"The site could not be reached: {type(exc).__name__}.",
            details={"error": str(exc)[:300]},
        )
    raise exc


# -- tenants -----------------------------------------------------------------------------


def analyse_tenant(
    identifier: str,
    *,
    check: bool = False,
    account_id: str | None = None,
    now: float | None = None,
) -> Report:
    """Install history, secret history and scopes of one installation; with ``check``,
    one signed call as the app and one impersonation grant against the live site."""
    now = time.time() if now is None else now
    report = Report("tenant")
    tenant, matches = find_tenant(identifier)
    if tenant is None:
        _report_unknown_tenant(report, identifier)
        refused = LifecycleEvent.objects.filter(client_key=identifier, accepted=False)
        for event in refused.order_by("-received_at")[:5]:
            report.add(
                "install_refused",
                INFO,
                f"A refused '{event.event_type}' for this clientKey at "
                f"{event.received_at:%Y-%m-%dT%H:%M:%SZ}: {event.error_code}.",
                cause=event.error_code,
            )
        return report
    report.facts["tenant"] = _tenant_facts(tenant)
    if len(matches) > 1:
        report.add(
            "tenant_ambiguous",
            WARNING,
            f"{len(matches)} installations match {identifier!r} (a site import creates a new "
            f"clientKey for the same site): {', '.join(t.client_key for t in matches)}; "
            f"showing {tenant.client_key}.",
        )
    events = LifecycleEvent.objects.filter(client_key=tenant.client_key).order_by("received_at")
    report.facts["install_history"] = [_describe_event(e) for e in events]
    report.facts["secret_history"] = _secret_history(tenant)
    if not tenant.is_installed:
        report.add(
            "tenant_uninstalled",
            ERROR,
            f"The app was uninstalled from {tenant.base_url}"
            + (f" at {tenant.uninstalled_at:%Y-%m-%dT%H:%M:%SZ}" if tenant.uninstalled_at else "")
            + ".",
        )
    elif not tenant.is_enabled:
        report.add(
            "tenant_disabled",
            WARNING if not connect_settings.REJECT_DISABLED_TENANTS else ERROR,
            f"The app is disabled on {tenant.base_url}.",
        )
    current = SharedSecret.objects.filter(tenant_id=tenant.pk, retired_at__isnull=True).first()
    if current is None:
        report.add(
            "secret_missing",
            ERROR,
            "The installation has no current shared secret: nothing can be signed or verified.",
        )
    last_install = events.filter(event_type="installed").last()
    if last_install is not None and not last_install.accepted:
        report.add(
            last_install.error_code or "install_refused",
            ERROR,
            f"The latest 'installed' delivery ({last_install.received_at:%Y-%m-%dT%H:%M:%SZ}) "
            f"was refused with {last_install.status_code} {last_install.error_code}: "
            f"{last_install.detail}",
            hint="The site shows the install or update as failed and keeps its previous "
            "state; fix the cause, then retry from 'Manage apps'. "
            + default_hint(last_install.error_code),
            cause="installed_refused",
            event=_describe_event(last_install),
        )
    else:
        older = [e for e in events if e.event_type == "installed" and not e.accepted]
        if older:
            report.add(
                "install_refused",
                INFO,
                f"{len(older)} earlier 'installed' deliveries were refused (codes "
                f"{', '.join(sorted({e.error_code for e in older}))}); a later one was accepted.",
            )
    if tenant.verification_status == "unauthorized":
        report.add(
            "signature_invalid",
            ERROR,
            "The last verification call "
            + (
                f"({tenant.last_verified_at:%Y-%m-%dT%H:%M:%SZ}) "
                if tenant.last_verified_at
                else ""
            )
            + "was refused with 401: the site holds another shared secret than ours.",
            hint="Reinstall (or update) the app on the site; then run connect_doctor tenant "
            "--check.",
            cause="stale_secret",
            detail=tenant.verification_detail[:500],
        )
    _check_impersonation_scopes(report, tenant)
    if check:
        _live_check(report, tenant, account_id, now)
    return report


def _check_impersonation_scopes(report: Report, tenant: AbstractTenant) -> None:
    scopes = [str(s).upper() for s in connect_settings.SCOPES]
    used = AccessToken.objects.filter(tenant_id=tenant.pk).exists()
    evidence = "cached impersonation tokens" if used else ""
    if not used:
        evidence = _code_uses_impersonation() or ""
    if "ACT_AS_USER" in scopes:
        if not tenant.oauth_client_id:
            report.add(
                "oauth_client_id_missing",
                ERROR,
                "SCOPES has ACT_AS_USER but the installation has no oauthClientId: the site "
                "runs an install from before the scope was added.",
                cause="install_not_upgraded",
            )
        else:
            report.add("impersonation_ready", OK, "ACT_AS_USER declared, oauthClientId present.")
    elif evidence:
        report.add(
            "act_as_user_missing",
            ERROR,
            f"The app acts as users ({evidence}) but SCOPES lacks ACT_AS_USER: the grant fails "
            "with unauthorized_client.",
            cause="scope_not_declared",
            scopes=scopes,
        )


def _live_check(report: Report, tenant: AbstractTenant, account_id: str | None, now: float) -> None:
    from . import maintenance

    path = maintenance.verify_endpoint(tenant)
    try:
        response = ConnectClient(tenant).as_app().get(path)
    except (ConnectAPIError, ConnectClientError, requests.RequestException) as exc:
        finding = explain_outbound_error(exc, tenant, mode="app", now=now)
        finding.details.setdefault("check", f"GET {path} as the app")
        report.findings.append(finding)
    else:
        report.add(
            "app_call_ok",
            OK,
            f"GET {path} as the app -> {response.status_code}: the site accepts our JWTs "
            "(shared secret in sync, clocks agree).",
        )
    if not account_id:
        row = AccessToken.objects.filter(tenant_id=tenant.pk).order_by("-last_used_at").first()
        account_id = row.account_id if row else None
    if not account_id:
        report.add(
            "impersonation_not_checked",
            INFO,
            "Add --as-user ACCOUNT_ID to check the impersonation grant.",
        )
        return
    try:
        secret = current_secret(tenant)
        _, expires_in = oauth.request_grant(tenant, account_id, "", secret.value)
    except (ImpersonationError, ConnectClientError) as exc:
        finding = explain_outbound_error(exc, tenant, mode="user", now=now)
        finding.details.setdefault("check", f"impersonation grant for {account_id}")
        report.findings.append(finding)
    else:
        report.add(
            "impersonation_ok",
            OK,
            f"The authorization server granted a token for {account_id} ({expires_in} s).",
        )


# -- a call, performed and explained ---------------------------------------------------------


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
        _report_unknown_tenant(report, tenant)
        return report
    mode = "user" if account_id else "app"
    report.facts["tenant"] = _tenant_facts(found)
    report.facts["call"] = f"{method.upper()} {url} as " + (
        f"the user {account_id}" if account_id else "the app"
    )
    response: requests.Response | None = None
    try:
        client = ConnectClient(found)
        session = client.as_user(account_id, scopes) if account_id else client.as_app()
        response = session.request(method.upper(), url, json=body)
    except (ConnectAPIError, ConnectClientError, ImpersonationError) as exc:
        if isinstance(exc, ConnectAPIError):
            response = exc.response
        report.findings.append(explain_outbound_error(exc, found, mode=mode, now=now))
    except requests.RequestException as exc:
        report.findings.append(explain_outbound_error(exc, found, mode=mode, now=now))
    if response is not None:
        _describe_sent(report, response, show_token=show_token)
        if response.status_code < 400:
            report.add(
                "call_ok",
                OK,
                f"{method.upper()} {response.request.url} -> {response.status_code}.",
            )
    return report


def _describe_sent(report: Report, response: requests.Response, *, show_token: bool) -> None:
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


# -- the descriptor ------------------------------------------------------------------------


def _project_source_dirs() -> list[Path]:
    """Directories of the project's own code: installed apps outside site-packages."""
    from django.apps import apps
    from django.conf import settings

    here = Path(__file__).resolve().parent
    prefixes = {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}}
    dirs: list[Path] = []
    candidates = [Path(config.path) for config in apps.get_app_configs()]
    urlconf = getattr(settings, "ROOT_URLCONF", None)
    if isinstance(urlconf, str):
        module = sys.modules.get(urlconf.split(".")[0])
        if module is not None and getattr(module, "__file__", None):
            candidates.append(Path(str(module.__file__)).parent)
    for candidate in candidates:
        path = candidate.resolve()
        if path == here or here in path.parents or path in here.parents:
            continue
        if "site-packages" in path.parts or any(p in path.parents for p in prefixes):
            continue
        if path not in dirs:
            dirs.append(path)
    return dirs


def _iter_sources(dirs: list[Path], limit: int = 2000) -> Iterator[Path]:
    count = 0
    for directory in dirs:
        for file in sorted(directory.rglob("*.py")):
            if any(
                part.startswith(".") or part in ("site-packages", "node_modules", "migrations")
                for part in file.relative_to(directory).parts
            ):
                continue
            count += 1
            if count > limit:
                return
            yield file


_IMPERSONATION_CALL = re.compile(r"\.as_user\(|get_access_token\(")


def _code_uses_impersonation() -> str | None:
    """``file:line`` of the first impersonation call in the project's own code."""
    for file in _iter_sources(_project_source_dirs()):
        try:
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            if _IMPERSONATION_CALL.search(line) and not line.lstrip().startswith("#"):
                return f"{file.name}:{number} calls {_IMPERSONATION_CALL.search(line).group(0)}"  # type: ignore[union-attr]
    return None


def lint_descriptor(
    descriptor: dict[str, Any] | None = None, *, source: str = "settings"
) -> Report:
    """Check a descriptor (default: the one this app serves) for what breaks installs and calls."""
    report = Report("descriptor")
    report.facts["source"] = source
    if descriptor is None:
        from .descriptor import build_descriptor

        try:
            descriptor = build_descriptor()
        except ImproperlyConfigured as exc:
            report.add("descriptor_invalid", ERROR, str(exc))
            return report
    if not isinstance(descriptor, dict):
        report.add("descriptor_invalid", ERROR, "The descriptor is not a JSON object.")
        return report
    base_url = str(descriptor.get("baseUrl") or "")
    report.facts["key"] = descriptor.get("key")
    report.facts["baseUrl"] = base_url
    report.facts["scopes"] = descriptor.get("scopes")
    _lint_identity(report, descriptor, base_url)
    _lint_migrations(report, descriptor)
    _lint_lifecycle(report, descriptor, base_url)
    _lint_modules(report, descriptor, base_url)
    _lint_scopes(report, descriptor)
    return report


def _lint_identity(report: Report, descriptor: dict[str, Any], base_url: str) -> None:
    app_key = connect_settings.get("APP_KEY")
    if descriptor.get("key") != app_key:
        report.add(
            "app_key_mismatch",
            ERROR,
            f"The descriptor's key {descriptor.get('key')!r} is not APP_KEY {app_key!r}: every "
            "lifecycle callback would be refused.",
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.add(
            "descriptor_invalid", ERROR, f"baseUrl {base_url!r} is not an absolute http(s) URL."
        )
        return
    if parts.scheme != "https":
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        report.add(
            "base_url_not_https",
            WARNING if loopback else ERROR,
            f"baseUrl {base_url} is not https"
            + (": fine for a local simulated site only." if loopback else "."),
        )
    ours = (connect_settings.get("BASE_URL") or "").rstrip("/")
    if base_url.rstrip("/") != ours:
        report.add(
            "audience_invalid",
            ERROR,
            f"The descriptor's baseUrl {base_url!r} is not BASE_URL {ours!r}: the install "
            "token's aud is the descriptor's baseUrl, so every install would be refused.",
            cause="base_url_mismatch",
        )
    authentication = descriptor.get("authentication")
    if not isinstance(authentication, dict) or authentication.get("type") != "jwt":
        report.add(
            "authentication_not_jwt",
            ERROR,
            f"authentication is {authentication!r}; Connect apps with lifecycle callbacks "
            "use {'type': 'jwt'}.",
        )


def _lint_migrations(report: Report, descriptor: dict[str, Any]) -> None:
    migrations = descriptor.get("apiMigrations")
    migrations = migrations if isinstance(migrations, dict) else {}
    if migrations.get("signed-install") is not True:
        report.add(
            "signed_install_missing",
            ERROR,
            "apiMigrations 'signed-install' is not true: installs are not signed by Atlassian, "
            "and this app refuses unsigned installs (token_missing / alg_not_allowed).",
        )
    if migrations.get("context-qsh") is not True:
        report.add(
            "context_qsh_migration_missing",
            ERROR,
            "apiMigrations 'context-qsh' is not true: context tokens carry a computed qsh and "
            "context views refuse them (context_qsh_required).",
        )


def _route(path: str) -> tuple[Any, str] | None:
    """The view serving ``path`` (relative to BASE_URL), as ``(view, name)``.

    Served under a base path, Django sees the path without it (``SCRIPT_NAME``);
    a URLconf that includes the base path itself is tried too.
    """
    base_path = urlsplit(connect_settings.get("BASE_URL") or "").path.rstrip("/")
    for candidate in (path, base_path + path) if base_path else (path,):
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        return match.func, match.view_name or ""
    return None


def _lifecycle_event_of(view: Any) -> str | None:
    """The lifecycle event a resolved view handles (``LifecycleView.as_view(event_type=...)``)."""
    initkwargs = getattr(view, "view_initkwargs", None) or {}
    view_class = getattr(view, "view_class", None)
    event = initkwargs.get("event_type") or getattr(view_class, "event_type", None)
    return event if isinstance(event, str) and event else None


def _relative_path(url: str, base_url: str) -> str | None:
    """The path the product requests under ``base_url`` for a descriptor URL."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in url:
        if not url.startswith(base_url.rstrip("/") + "/"):
            return None
        url = url[len(base_url.rstrip("/")) :]
    return url if url.startswith("/") else "/" + url


def _lint_lifecycle(report: Report, descriptor: dict[str, Any], base_url: str) -> None:
    lifecycle = descriptor.get("lifecycle")
    lifecycle = lifecycle if isinstance(lifecycle, dict) else {}
    for event in ("installed", "uninstalled", "enabled", "disabled"):
        url = lifecycle.get(event)
        if not isinstance(url, str) or not url:
            report.add(
                "lifecycle_missing",
                ERROR if event in ("installed", "uninstalled") else WARNING,
                f"The descriptor names no '{event}' callback.",
                cause=event,
            )
            continue
        path = _relative_path(url, base_url)
        if path is None:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {url} is not under baseUrl {base_url}.",
                cause=event,
            )
            continue
        route = _route(path)
        if route is None:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {base_url.rstrip('/')}{path} is not routed here (404).",
                cause=event,
            )
        elif _lifecycle_event_of(route[0]) != event:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {path} is routed to {route[1] or 'another view'}, not "
                f"to the '{event}' lifecycle view.",
                cause=event,
            )
        else:
            report.add("lifecycle_ok", OK, f"'{event}' -> {path} is served by this app.")


def _lint_modules(report: Report, descriptor: dict[str, Any], base_url: str) -> None:
    modules = descriptor.get("modules")
    if not isinstance(modules, dict):
        return
    for kind, entries in modules.items():
        for module in entries if isinstance(entries, list) else [entries]:
            if not isinstance(module, dict) or not isinstance(module.get("url"), str):
                continue
            url = module["url"]
            if "{" in url.split("?", 1)[0]:
                continue  # a URL template: cannot be resolved statically
            path = _relative_path(url, base_url)
            if path is None or _route(path) is None:
                report.add(
                    "module_url_unreachable",
                    WARNING,
                    f"The {kind} module {module.get('key', '?')!r} points at {url}, which this "
                    "app does not route.",
                    cause=kind,
                )


def _lint_scopes(report: Report, descriptor: dict[str, Any]) -> None:
    raw = descriptor.get("scopes")
    scopes = [str(s).upper() for s in raw] if isinstance(raw, list) else []
    unknown = sorted(set(scopes) - CONNECT_SCOPES)
    if unknown:
        report.add(
            "scope_unknown",
            ERROR,
            f"Unknown scope(s) {', '.join(unknown)}: the product refuses the descriptor.",
        )
    if "ACT_AS_USER" in scopes:
        return
    evidence = None
    try:
        if AccessToken.objects.exists():
            evidence = "impersonation tokens are cached in the database"
    except DatabaseError:
        evidence = None
    evidence = evidence or _code_uses_impersonation()
    if evidence:
        report.add(
            "act_as_user_missing",
            ERROR,
            f"The app acts as users ({evidence}) but the scopes lack ACT_AS_USER: the grant "
            "fails with unauthorized_client.",
            cause="scope_not_declared",
            scopes=scopes,
        )
