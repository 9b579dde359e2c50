"""What the doctor returns: a :class:`Report` of :class:`Finding` objects.

The bottom of the ``diagnostics`` package: every other module builds on these
types; this one imports none of them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..codes import CODES as REGISTRY
from ..codes import IMPERSONATION_CODES
from ..exceptions import ConnectAuthError

ERROR = "error"
WARNING = "warning"
INFO = "info"
OK = "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)

#: Hints of the doctor's own codes, and of the grant errors it reports; every
#: other code takes its hint from the registry (:data:`codes.CODES`).
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
    # The grant's errors, reported as the authorization server named them.
    **{code: REGISTRY[code].hint for code in sorted(IMPERSONATION_CODES)},
}


def default_hint(code: str) -> str:
    """The fix for ``code``: the doctor's own hint, else the registry's."""
    if code in HINTS:
        return HINTS[code]
    entry = REGISTRY.get(code)
    return entry.hint if entry is not None else ""


def error_context(error: BaseException, name: str) -> Any:
    """A context value an error carries (an attribute, or in ``extra`` for older errors).

    The errors carry their data; the doctor reads it here instead of parsing messages.
    """
    if hasattr(error, name):
        return getattr(error, name)
    extra = getattr(error, "extra", None)
    return extra.get(name) if isinstance(extra, dict) else None


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
            "details": jsonable(self.details),
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

    def rewrite(self, text: Callable[[str], str]) -> Report:
        """Every string of the report (facts, messages, hints, details) passed through ``text``,
        after the analysis: to take out what must not be printed."""

        def each(value: Any) -> Any:
            if isinstance(value, str):
                return text(value)
            if isinstance(value, dict):
                return {k: each(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [each(v) for v in value]
            return value

        self.facts = each(self.facts)
        for finding in self.findings:
            finding.message, finding.hint = text(finding.message), text(finding.hint)
            finding.details = each(finding.details)
        return self

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
            "facts": jsonable(self.facts),
            "findings": [f.to_dict() for f in self.findings],
        }


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def dt(value: datetime | None) -> str | None:
    return None if value is None else iso(value.timestamp())


def token_prefix(token: str, length: int = 12) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    if len(token) <= length:
        return "…" if token else ""
    return f"{token[:length]}… ({len(token)} chars)"


_JWT_PARAM = re.compile(r"(?i)\b(jwt=)([A-Za-z0-9._~%+/=-]+)")


def shorten_jwt_params(text: str) -> str:
    """``text`` with the value of each ``jwt=`` parameter (the iframe's token, in a URL
    copied from the browser) cut to :func:`token_prefix`."""
    return _JWT_PARAM.sub(lambda m: m.group(1) + token_prefix(m.group(2)), text)
