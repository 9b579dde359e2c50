"""``connect_doctor descriptor``: what in a descriptor breaks installs and calls.

Identity (key, baseUrl, authentication), the API migrations, every lifecycle
and module URL against our URLconf, and the scopes against what the database
shows the app doing (cached impersonation tokens).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..conf import connect_settings
from ..connect.descriptor import build_descriptor
from .facts import impersonation_evidence
from .report import ERROR, OK, WARNING, Report
from .routing import (
    include_hint,
    lifecycle_event_of,
    relative_path,
    route,
    unrouted_connect_urls,
)

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


def lint_descriptor(
    descriptor: dict[str, Any] | None = None, *, source: str = "settings"
) -> Report:
    """Check a descriptor (default: the one this app serves) for what breaks installs and calls."""
    report = Report("descriptor")
    report.facts["source"] = source
    if descriptor is None:
        missing = unrouted_connect_urls()
        if missing:
            # build_descriptor() reverses these URLs: say what to add, and where.
            report.add(
                "lifecycle_unreachable",
                ERROR,
                "The ROOT_URLCONF does not include django_atlassian_connect.urls: the "
                "descriptor and the lifecycle callbacks (" + ", ".join(missing) + ") are not "
                "routed, so the site can neither read the descriptor nor install the app.",
                hint=include_hint(),
                cause="urls_not_included",
            )
            return report
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


def _lifecycle_hint() -> str:
    """Where the lifecycle URLs come from, naming the URLconf module to edit."""
    return (
        include_hint() + " Keep the descriptor's lifecycle paths relative to BASE_URL (the "
        "served descriptor has them right: build_descriptor())."
    )


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
        path = relative_path(url, base_url)
        if path is None:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {url} is not under baseUrl {base_url}.",
                cause=event,
            )
            continue
        found = route(path)
        if found is None:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {base_url.rstrip('/')}{path} is not routed here (404).",
                hint=_lifecycle_hint(),
                cause=event,
            )
        elif lifecycle_event_of(found[0]) != event:
            report.add(
                "lifecycle_unreachable",
                ERROR,
                f"The '{event}' callback {path} is routed to {found[1] or 'another view'}, not "
                f"to the '{event}' lifecycle view.",
                hint=_lifecycle_hint(),
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
            path = relative_path(url, base_url)
            if path is None or route(path) is None:
                # The product loads this URL in front of users: a 404 there is a broken app.
                report.add(
                    "module_url_unreachable",
                    ERROR,
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
    evidence = impersonation_evidence()
    if evidence:
        report.add(
            "act_as_user_missing",
            ERROR,
            f"The app acts as users ({evidence}) but the scopes lack ACT_AS_USER: the grant "
            "fails with unauthorized_client.",
            cause="scope_not_declared",
            scopes=scopes,
        )
