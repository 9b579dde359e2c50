"""Who is who on the simulated Forge platform: the app, its installations, the users.

Identifier formats follow the spec (§5): app ``ari:cloud:ecosystem::app/<uuid>``,
installation ``ari:cloud:ecosystem::installation/<uuid>``, environment
``ari:cloud:ecosystem::environment/<appUuid>/<envUuid>``, site
``ari:cloud:{jira|confluence}::site/<cloudId>``. Nothing here does I/O or
imports another module of this package.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

APP_PREFIX = "ari:cloud:ecosystem::app/"
INSTALLATION_PREFIX = "ari:cloud:ecosystem::installation/"
ENVIRONMENT_PREFIX = "ari:cloud:ecosystem::environment/"
PRODUCTS = ("jira", "confluence")


def site_ari(product: str, cloud_id: str) -> str:
    """The site ARI: lifecycle ``context`` and ``offlineUserAuthToken`` ``contextIds``."""
    return f"ari:cloud:{product}::site/{cloud_id}"


@dataclass
class ForgeAccount:
    """An Atlassian account in the simulated sites."""

    account_id: str
    display_name: str
    email: str = ""


@dataclass
class Installation:
    """One Forge installation of the app on one site (one product context)."""

    product: str
    cloud_id: str
    site_url: str
    api_base_url: str
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: the Connect ``clientKey`` of the same site, if the app also runs on Connect there
    connect_client_key: str | None = None
    installer_account_id: str | None = None
    #: set by the platform's uninstall: Forge invokes an uninstalled installation no more
    uninstalled: bool = False

    @property
    def id(self) -> str:
        """The installation ARI, as in the FIT's ``app.installationId``."""
        return INSTALLATION_PREFIX + self.uuid

    @property
    def site_ari(self) -> str:
        return site_ari(self.product, self.cloud_id)

    def context(self) -> dict[str, Any]:
        """The ``app.installation.contexts[]`` item for this installation."""
        return {"name": self.product, "apiBaseUrl": self.api_base_url, "cloudId": self.cloud_id}


@dataclass
class Environment:
    """The app environment an installation runs (``DEVELOPMENT``/``STAGING``/``PRODUCTION``)."""

    app_uuid: str
    type: str = "PRODUCTION"
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def id(self) -> str:
        return f"{ENVIRONMENT_PREFIX}{self.app_uuid}/{self.uuid}"


class Directory:
    """The app's identity, its installations and the known accounts.

    Shared by the gateway (whose tokens belong to an installation and an
    account) and the platform (which mints FITs and delivers events).
    """

    def __init__(
        self,
        *,
        app_uuid: str | None = None,
        app_name: str = "simulated-forge-app",
        app_version: str = "1.0.0",
        environment_type: str = "PRODUCTION",
        connect_key: str | None = None,
    ) -> None:
        self.app_uuid = app_uuid or str(uuid.uuid4())
        self.app_name = app_name
        self.app_version = app_version
        self.environment = Environment(self.app_uuid, environment_type)
        #: ``app.connect.key`` of the manifest (Connect-on-Forge); None for a Forge-only app
        self.connect_key = connect_key
        self.owner_account_id = "557058:" + str(uuid.uuid4())
        # The app's "bot" user: what a system token acts as.
        self.app_account = ForgeAccount(f"712020:{uuid.uuid4()}", app_name)
        self.installations: dict[str, Installation] = {}
        self.accounts: dict[str, ForgeAccount] = {}

    @property
    def app_id(self) -> str:
        return APP_PREFIX + self.app_uuid

    def add_account(
        self, display_name: str = "Alana Grant", email: str = "", account_id: str | None = None
    ) -> ForgeAccount:
        account = ForgeAccount(account_id or f"557058:{uuid.uuid4()}", display_name, email)
        self.accounts[account.account_id] = account
        return account

    def add_installation(
        self,
        gateway_url: str,
        product: str = "jira",
        site_url: str | None = None,
        connect_client_key: str | None = None,
        cloud_id: str | None = None,
    ) -> Installation:
        if product not in PRODUCTS:
            raise ValueError(f"product is one of {PRODUCTS}, not {product!r}")
        cloud_id = cloud_id or str(uuid.uuid4())
        installation = Installation(
            product=product,
            cloud_id=cloud_id,
            site_url=site_url or f"https://site-{secrets.token_hex(3)}.atlassian.net",
            api_base_url=f"{gateway_url.rstrip('/')}/ex/{product}/{cloud_id}",
            connect_client_key=connect_client_key,
            installer_account_id=next(iter(self.accounts), None),
        )
        self.installations[installation.id] = installation
        return installation

    def reinstall(self, ref: Installation | str | None = None) -> Installation:
        """The app installed again on an uninstalled installation's site: a new id (spec §6)."""
        old = self.installation(ref)
        if not old.uninstalled:
            raise AssertionError(f"{old.id} is installed: uninstall it first")
        installation = Installation(
            product=old.product,
            cloud_id=old.cloud_id,
            site_url=old.site_url,
            api_base_url=old.api_base_url,
            connect_client_key=old.connect_client_key,
            installer_account_id=old.installer_account_id,
        )
        self.installations[installation.id] = installation
        return installation

    def installation(self, ref: Installation | str | None = None) -> Installation:
        """An installation by object, ARI or bare uuid; ``None`` means the first one."""
        if isinstance(ref, Installation):
            return ref
        if ref is None:
            if not self.installations:
                raise AssertionError("add_installation() first")
            return next(iter(self.installations.values()))
        key = ref if ref.startswith(INSTALLATION_PREFIX) else INSTALLATION_PREFIX + ref
        try:
            return self.installations[key]
        except KeyError:
            raise AssertionError(f"no installation {ref!r} on the simulated platform") from None

    def by_cloud_id(self, cloud_id: str) -> Installation | None:
        """The installed installation of a site (after a reinstall, the new one)."""
        found = [i for i in self.installations.values() if i.cloud_id == cloud_id]
        return next((i for i in reversed(found) if not i.uninstalled), found[-1] if found else None)
