"""What a new access token gives access to: ``accessible-resources`` and ``/me``.

Both are read from ``API_URL`` (``https://api.atlassian.com``) through a
:class:`~django_atlassian_connect.http.bound.BoundSession`, so the token goes
to that one URL only. :func:`site_links` finds the Connect tenant and the
Forge installation of a cloudId (by cloudId only, never by site URL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConnectClientError
from ..http import ConnectAPIError
from ..http.bound import BoundSession
from ..http.targets import api_url
from ..models import AbstractTenant, ForgeInstallation, get_tenant_model

__all__ = ["Account", "Site", "fetch_account", "fetch_sites", "site_links"]

logger = logging.getLogger("django_atlassian_connect")

WHO = "a new OAuth 2.0 (3LO) access token"


@dataclass(frozen=True)
class Site:
    """One item of ``accessible-resources``: ``id`` is the cloudId."""

    cloud_id: str
    url: str
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Account:
    """The linked Atlassian account, from ``GET {API_URL}/me``."""

    account_id: str
    name: str


def _session(path: str, access_token: str) -> BoundSession:
    return BoundSession(api_url() + path, lambda: f"Bearer {access_token}", who=WHO)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def fetch_sites(access_token: str) -> list[Site]:
    """``GET {API_URL}/oauth/token/accessible-resources``, one :class:`Site` per cloudId.

    Raises ``ConnectAPIError`` for an error status and ``oauth_token_failed``
    for an answer that is not a list of resources.
    """
    with _session("/oauth/token/accessible-resources", access_token) as session:
        response = session.get(session.base_url, headers={"Accept": "application/json"})
    body = _json(response)
    if not isinstance(body, list):
        raise ConnectClientError(
            "oauth_token_failed",
            "GET /oauth/token/accessible-resources did not answer a list of sites.",
            oauth_error=None,
            status=response.status_code,
            method="GET",
            url=response.url,
        )
    sites: dict[str, Site] = {}
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        cloud_id = item["id"][:64]
        scopes = [str(s) for s in item.get("scopes") or [] if isinstance(s, str)]
        known = sites.get(cloud_id)
        if known is not None:  # a site listed once per product: one row, all scopes
            scopes = [*known.scopes, *scopes]
        sites[cloud_id] = Site(
            cloud_id=cloud_id,
            url=str(item.get("url") or (known.url if known else ""))[:255],
            name=str(item.get("name") or (known.name if known else ""))[:255],
            scopes=tuple(dict.fromkeys(scopes)),
        )
    return list(sites.values())


def fetch_account(access_token: str) -> Account | None:
    """``GET {API_URL}/me`` (needs the ``read:me`` scope); ``None`` when it is refused."""
    try:
        with _session("/me", access_token) as session:
            response = session.get(session.base_url, headers={"Accept": "application/json"})
    except ConnectAPIError as exc:
        if exc.status_code in (401, 403, 404):
            logger.info("GET /me refused (%s): the grant has no read:me scope", exc.status_code)
            return None
        raise
    body = _json(response)
    account_id = body.get("account_id") if isinstance(body, dict) else None
    if not isinstance(account_id, str) or not account_id:
        return None
    name = body.get("name") or body.get("nickname") or ""
    return Account(account_id=account_id[:128], name=str(name)[:255])


def site_links(cloud_id: str) -> tuple[AbstractTenant | None, ForgeInstallation | None]:
    """The installed Connect tenant and the current Forge installation with this cloudId.

    The tenant: one whose signed install carried the cloudId, else the one the
    Forge installation is linked to. ``None`` when there is none, or more than one.
    """
    installations = list(
        ForgeInstallation._default_manager.filter(cloud_id=cloud_id, superseded_at__isnull=True)[:2]
    )
    installation = installations[0] if len(installations) == 1 else None
    tenants = list(
        get_tenant_model()._default_manager.filter(cloud_id=cloud_id, is_installed=True)[:2]
    )
    tenant: AbstractTenant | None = tenants[0] if len(tenants) == 1 else None
    if tenant is None and not tenants and installation is not None:
        tenant = installation.tenant
    return tenant, installation
