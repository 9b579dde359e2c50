"""Admin: tenants with their secret history and lifecycle log, read-only.

Secrets, access tokens, Forge app system tokens and OAuth 2.0 (3LO) tokens are never displayed:
only fingerprints and timestamps. Uninstalling is soft, as the product's ``uninstalled`` callback
is: the admin marks tenants uninstalled and keeps their rows. Deleting a
tenant for good (its secrets, access tokens and data with it) is a separate,
superuser-only action behind Django's confirmation page, and it is logged.
"""

from .common import ReadOnlyInline, SystemTokenStatus
from .forge import ForgeInstallationAdmin, ForgeRealmMigrationInline
from .tenants import LifecycleEventAdmin, TenantAdmin
from .threelo import OAuthGrantAdmin, OAuthSiteInline

__all__ = [
    "ForgeInstallationAdmin",
    "ForgeRealmMigrationInline",
    "LifecycleEventAdmin",
    "OAuthGrantAdmin",
    "OAuthSiteInline",
    "ReadOnlyInline",
    "SystemTokenStatus",
    "TenantAdmin",
]
