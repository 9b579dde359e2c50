"""Tenants (installations), their shared-secret history and lifecycle log;
Forge installations and their app system tokens; OAuth 2.0 (3LO) grants.

``Tenant`` is swappable: point ``ATLASSIAN_CONNECT_TENANT_MODEL`` at a
subclass of :class:`AbstractTenant` (before the first migration) and use
:func:`get_tenant_model` everywhere.

- :mod:`.tenants`: ``AbstractTenant``, ``Tenant``, :func:`get_tenant_model`;
- :mod:`.secrets`: ``SharedSecret`` (the history), ``AccessToken``;
- :mod:`.lifecycle`: ``LifecycleEvent``, ``SeenLifecycleToken``;
- :mod:`.forge`: ``ForgeInstallation``;
- :mod:`.realm`: ``ForgeRealmMigration`` (data residency migrations of one);
- :mod:`.oauth`: ``OAuthGrant``, ``OAuthSite`` (OAuth 2.0 3LO account links).
"""

from .forge import ForgeInstallation
from .lifecycle import LifecycleEvent, SeenLifecycleToken
from .realm import ForgeRealmMigration
from .secrets import AccessToken, SharedSecret
from .swappable import TENANT_MODEL
from .tenants import AbstractTenant, ProductType, Tenant, get_tenant_model
from .threelo import OAuthGrant, OAuthSite

__all__ = [
    "TENANT_MODEL",
    "AbstractTenant",
    "AccessToken",
    "ForgeInstallation",
    "ForgeRealmMigration",
    "LifecycleEvent",
    "OAuthGrant",
    "OAuthSite",
    "ProductType",
    "SeenLifecycleToken",
    "SharedSecret",
    "Tenant",
    "get_tenant_model",
]
