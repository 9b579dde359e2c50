"""A simulated Forge platform: Atlassian's side of Forge Remote, on 127.0.0.1.

It lets tests drive an app's Forge Remote support over real HTTP: FITs signed
with keys a local JWKS server publishes, an API gateway that accepts only the
OAuth tokens it issued, UI invocations, lifecycle and product events with
Forge's retries, the hourly scheduled trigger, preUninstall (``uninstall``)
and the data residency hooks (``realm_hook``, ``migrate_realm``)::

    from django_atlassian_connect.testing.forge import ForgePlatform

    with ForgePlatform(remote_base_url=live_server.url) as forge:
        site = forge.add_installation("jira")
        forge.deliver_lifecycle("avi:forge:installed:app", site)

It is the other side of the wire from ``django_atlassian_connect.forge`` and
imports nothing from it. The modules, one concern each (imports point down):
``testclient`` → ``platform`` (calls to the remote) → ``state`` (the parts),
``delivery``, ``mint``; ``state`` → ``gateway`` → ``routes`` → ``tokens``;
``jwks`` → ``keys``; ``wire`` (HTTP plumbing) and ``records`` (identities)
import nothing of the package.
"""

from .delivery import DeliveryAttempt
from .gateway import ApiGateway
from .jwks import JwksServer
from .keys import ForgeSigningKey, KeyRing
from .mint import edit_claims, fit_claims, mint_fit, paid_license, sign_fit
from .platform import ForgePlatform
from .records import Directory, Environment, ForgeAccount, Installation, site_ari
from .routes import CLIENT_KEY_PROPERTY
from .testclient import ForgeTestClient
from .tokens import IssuedToken, TokenIssuer

__all__ = [
    "CLIENT_KEY_PROPERTY",
    "ApiGateway",
    "DeliveryAttempt",
    "Directory",
    "Environment",
    "ForgeAccount",
    "ForgePlatform",
    "ForgeSigningKey",
    "ForgeTestClient",
    "Installation",
    "IssuedToken",
    "JwksServer",
    "KeyRing",
    "TokenIssuer",
    "edit_claims",
    "fit_claims",
    "mint_fit",
    "paid_license",
    "sign_fit",
    "site_ari",
]
