"""One simulated site installed both ways: Connect and Forge (Connect-on-Forge).

A :class:`~.host.ConnectHost` (the Connect side) and a
:class:`~.forge.ForgePlatform` (the Forge side) made into one site: one
cloudId, one site URL, one clientKey, the same users. The site's signed
Connect ``installed`` then carries the Forge ``installationId`` (and the
cloudId), as Atlassian sends it once an app has adopted Forge, so the app
links the installation to the tenant in the install's own transaction.

The pytest fixture ``connect_on_forge`` and
``python -m django_atlassian_connect.testing.host --forge`` are built on
:func:`share_site`. This module imports no pytest, nothing of the app side and
not :mod:`.host` (whose CLI imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .forge import ForgePlatform, Installation

__all__ = ["ConnectOnForge", "share_site"]


def share_site(host: Any, platform: ForgePlatform) -> Installation:
    """Make ``platform``'s installation of ``host``'s product the same site as ``host``.

    Uses the platform's first installation of that product (adds one if
    there is none): its site URL becomes the host's, its Connect clientKey
    property the host's clientKey; the host's next lifecycle payloads carry
    its installation ARI and cloudId. The host's accounts become Forge
    accounts with the same accountIds. Call it before the first install and
    before any FIT is minted.
    """
    installation = next(
        (i for i in platform.installations.values() if i.product == host.product), None
    )
    if installation is None:
        installation = platform.add_installation(host.product)
    installation.site_url = host.url  # Forge's siteUrl: the site root, never .../wiki
    installation.connect_client_key = host.client_key
    host.installation_id = installation.id
    host.cloud_id = installation.cloud_id
    for account in host.accounts.values():
        if account.account_id not in platform.accounts:
            platform.directory.add_account(
                account.display_name, account.email, account_id=account.account_id
            )
    if installation.installer_account_id not in host.accounts:
        installation.installer_account_id = next(iter(host.accounts), None)
    return installation


@dataclass
class ConnectOnForge:
    """What the ``connect_on_forge`` fixture returns.

    ``host``: the Connect side (:class:`ConnectHost`); ``platform``: the Forge
    side (:class:`ForgePlatform`); ``installation``: the platform's record of
    the Forge installation (``installation.id`` is the ARI); ``tenant``: the
    Connect tenant (your tenant model); ``connect_client`` and
    ``forge_client``: test clients signing as the same user
    (:attr:`account_id`), with Connect JWTs and with FITs of this installation.
    """

    host: Any  # a ConnectHost (not imported here: the host's CLI imports this module)
    platform: ForgePlatform
    installation: Installation
    tenant: Any
    connect_client: Any
    forge_client: Any

    @property
    def installation_id(self) -> str:
        """The installation ARI (``app.installationId`` of the FITs)."""
        return self.installation.id

    @property
    def cloud_id(self) -> str:
        return self.installation.cloud_id

    @property
    def client_key(self) -> str:
        return self.host.client_key

    @property
    def account_id(self) -> str:
        """The user both test clients act as."""
        return str(self.forge_client.account_id)

    def forge_installation(self) -> Any:
        """The app's ``ForgeInstallation`` row, read now."""
        from django_atlassian_connect.models import ForgeInstallation

        return ForgeInstallation._default_manager.get(installation_id=self.installation_id)
