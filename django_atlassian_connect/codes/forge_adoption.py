"""The codes of running a Connect app's tenants on their Forge installations.

- ``forge_installation_*``: ``ForgeClient`` refuses before anything is sent
  (raised as :class:`~django_atlassian_connect.exceptions.ConnectClientError`);
  registered with 409, the status ``responses.client_error_status`` answers
  them with: the caller's request was fine, the installation's state is not;
- ``rekey_*``: ``adoption.rekey.rekey_by_installation`` was asked about a field
  it cannot use; nothing was changed.
"""

from __future__ import annotations

from .base import Code

FORGE_ADOPTION: dict[str, Code] = {
    "forge_installation_uninstalled": Code(
        409,
        "The Forge installation was uninstalled (its Connect tenant's uninstall or Forge's "
        "preUninstall said so); nothing was sent.",
        "Do not call an uninstalled installation: skip it in jobs (ForgeClient.for_tenant "
        "raises this for a tenant whose only installation is gone). A new install brings a "
        "new installation id and a new link.",
    ),
    "forge_installation_missing": Code(
        409,
        "The Connect tenant has no Forge installation linked to it; nothing was sent.",
        "Link it: its signed Connect install carries the installationId once the app is on "
        "Forge, or run 'manage.py connect_tenants --link' (app property, unique cloudId). "
        "'connect_tenants --forge' lists the tenants still without one.",
    ),
    "rekey_field_unknown": Code(
        0,
        "The model has no such concrete field; nothing was changed.",
        "Name the model's field that holds the clientKey (field=) and the one that is to "
        "hold the installationId (to_field=); add the new field with a migration first.",
    ),
    "rekey_field_invalid": Code(
        0,
        "The field cannot hold what re-keying writes into it; nothing was changed.",
        "to_field must be a text field other than field, at least 255 characters long "
        "(an installation ARI is ari:cloud:ecosystem::installation/<uuid>).",
    ),
}

#: The codes ``ConnectClientError`` may carry (nothing was sent).
FORGE_ADOPTION_CLIENT = frozenset(c for c in FORGE_ADOPTION if c.startswith("forge_"))
#: The codes of ``adoption.rekey.RekeyError``.
REKEY_CODES = frozenset(c for c in FORGE_ADOPTION if c.startswith("rekey_"))
