"""Facts about installations read from the database: the tenant, its secret and
install history, and the evidence of impersonation.

Nothing here judges a token or a call; the analysis modules above build on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import DatabaseError

from ..conf import connect_settings
from ..models import AbstractTenant, AccessToken, LifecycleEvent, SharedSecret, get_tenant_model
from .report import ERROR, Finding, Report, dt


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def origin(url: str) -> str:
    """``scheme://host[:port]`` with the default port left out."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def report_unknown_tenant(report: Report, identifier: str) -> None:
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
    wanted = normalise_url(identifier)
    matches = [
        t
        for t in manager.order_by("-is_installed", "-installed_at")
        if wanted
        in {
            normalise_url(t.base_url),
            normalise_url(t.base_url).removesuffix("/wiki"),
            normalise_url(t.display_url or "-"),
        }
    ]
    return (matches[0] if matches else None), matches


def tenant_row(client_key: str) -> AbstractTenant | None:
    return get_tenant_model()._default_manager.filter(client_key=client_key).first()


def similar_tenants(client_key: str) -> list[str]:
    manager = get_tenant_model()._default_manager
    return [t.client_key for t in manager.filter(client_key__iexact=client_key.strip())][:3]


def tenant_facts(tenant: AbstractTenant) -> dict[str, Any]:
    state = "installed" if tenant.is_installed else "uninstalled"
    if tenant.is_installed and not tenant.is_enabled:
        state = "disabled"
    return {
        "client_key": tenant.client_key,
        "base_url": tenant.base_url,
        "display_url": tenant.display_url or None,
        "product_type": tenant.product_type or None,
        "app_key": tenant.app_key or None,
        "state": state,
        "installed_at": dt(tenant.installed_at),
        "oauth_client_id": "present" if tenant.oauth_client_id else "missing",
    }


def secret_history(tenant: AbstractTenant) -> list[dict[str, Any]]:
    rows = SharedSecret.objects.filter(tenant_id=tenant.pk).order_by("became_current_at", "pk")
    return [
        {
            "fingerprint": row.fingerprint,
            "state": "current"
            if row.retired_at is None
            else ("retired, material purged" if row.purged_at else "retired"),
            "current_since": dt(row.became_current_at),
            "retired_at": dt(row.retired_at),
            "purged_at": dt(row.purged_at),
        }
        for row in rows
    ]


def current_since(tenant: AbstractTenant) -> Any:
    """When the tenant's current secret became current (``None`` without one)."""
    row = SharedSecret.objects.filter(tenant_id=tenant.pk, retired_at__isnull=True).first()
    return row.became_current_at if row else None


def purged_count(tenant: AbstractTenant) -> int:
    return SharedSecret.objects.filter(tenant_id=tenant.pk, purged_at__isnull=False).count()


def refused_installs_since(tenant: AbstractTenant, since: Any) -> list[LifecycleEvent]:
    events = LifecycleEvent.objects.filter(
        client_key=tenant.client_key, event_type="installed", accepted=False
    )
    if since is not None:
        events = events.filter(received_at__gte=since)
    return list(events.order_by("-received_at")[:5])


def describe_event(event: LifecycleEvent) -> dict[str, Any]:
    return {
        "event": event.event_type,
        "received_at": dt(event.received_at),
        "accepted": event.accepted,
        "status": event.status_code,
        "code": event.error_code or None,
        "detail": event.detail,
        "secret": event.secret_fingerprint or None,
        "secret_rotated": event.secret_rotated,
    }


def impersonation_evidence(tenant: AbstractTenant | None = None) -> str | None:
    """Why we believe the app acts as users: its cached impersonation tokens.

    The database, not the project's source, is the evidence: an ``AccessToken``
    row exists only after a grant the app asked for.
    """
    rows = AccessToken.objects.all()
    if tenant is not None:
        rows = rows.filter(tenant_id=tenant.pk)
    try:
        count = rows.count()
    except DatabaseError:  # a descriptor lint before migrate
        return None
    if not count:
        return None
    where = "this installation" if tenant is not None else "the database"
    return f"{count} cached impersonation token(s) in {where}"


def app_key_mismatch(tenant: AbstractTenant) -> Finding | None:
    """APP_KEY changed after the site installed the app under another key."""
    configured = connect_settings.get("APP_KEY")
    if not tenant.app_key or not configured or tenant.app_key == configured:
        return None
    return Finding(
        "app_key_mismatch",
        ERROR,
        f"The site installed this app under the key {tenant.app_key!r}, but APP_KEY is now "
        f"{configured!r}. The app key does not match the tenant's: the site rejects our "
        f"tokens' iss {configured!r} (401 on every call as the app), and its lifecycle "
        f"callbacks carry the key {tenant.app_key!r}, which we refuse.",
        hint=f"Set APP_KEY back to {tenant.app_key!r}. A new key is a new app to Atlassian: "
        "install the app with the new key on the site (a new 'installed' then stores it).",
        cause="app_key_changed",
        details={"tenant_app_key": tenant.app_key, "configured_app_key": configured},
    )
