"""A database seeded with real secrets of every kind, and the check that none of them leaked.

:func:`fill_vault` takes the pytest plugin's simulated Atlassian sides (``connect_host`` and
``connect_tenant``, ``forge_host``, ``linked_user``) and makes the app store, through its own
code paths, every secret it keeps:

- the Connect shared secret of a signed install, rotated twice (one current, two retired);
- a Connect user access token (impersonation grant, cached encrypted);
- a Forge app system token (``x-forge-oauth-system``, stored encrypted), the FIT and user token
  of that invocation, and an offline user token (cached encrypted);
- a 3LO access token and refresh token (a real consent and code exchange);
- a shared secret sent by an attacker in an unsigned ``installed`` (refused).

:class:`Vault` knows each plaintext, the Fernet ciphertext each encrypted column holds, the
signature part of each JWT, and the configuration secrets (``OAUTH_CLIENT_SECRET``,
``ENCRYPTION_KEYS``); :meth:`Vault.leaks` names (never shows) whichever of them a text holds.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Model, TextField
from django.db.models.functions import Cast
from django.test import Client, RequestFactory

from django_atlassian_connect import crypto
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.forge import verify_invocation
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.installations import record_invocation
from django_atlassian_connect.models import (
    AccessToken,
    ForgeInstallation,
    LifecycleEvent,
    OAuthGrant,
    SharedSecret,
)
from tests.security.support import JWT_PATTERN

MYSELF = "/rest/api/3/myself"


@dataclass
class Vault:
    """What the app was given to keep, and what it stored of it."""

    tenant: Any
    grant: OAuthGrant
    installation: ForgeInstallation | None = None
    #: name -> plaintext of every secret and credential (tokens, their JWT signatures)
    plaintexts: dict[str, str] = field(default_factory=dict)
    #: name -> the Fernet ciphertext an encrypted column holds
    ciphertexts: dict[str, str] = field(default_factory=dict)
    #: name -> ``crypto.fingerprint`` of each stored secret
    fingerprints: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.plaintexts[name] = value
        if JWT_PATTERN.fullmatch(value):
            self.plaintexts[f"{name} (JWT signature)"] = value.rsplit(".", 1)[1]

    def store(self, name: str, value: str, model: type[Model], pk: Any, column: str) -> None:
        """A secret the app stored encrypted: its plaintext, ciphertext and fingerprint."""
        self.add(name, value)
        row = model._default_manager.filter(pk=pk)
        self.ciphertexts[f"{name} (ciphertext)"] = row.values_list(
            Cast(column, TextField()), flat=True
        ).get()
        self.fingerprints[name] = crypto.fingerprint(value)

    @property
    def forbidden(self) -> dict[str, str]:
        return {**self.plaintexts, **self.ciphertexts}

    def leaks(self, text: str) -> list[str]:
        """The names of the vault's secrets found in ``text``, and any whole JWT in it."""
        found = [name for name, value in self.forbidden.items() if value in text]
        found += [f"a whole JWT ({m.group()[:12]}...)" for m in JWT_PATTERN.finditer(text)]
        return found

    def log_leaks(self, records: list[logging.LogRecord]) -> list[str]:
        """:meth:`leaks` of every record as a handler writes it (message and traceback)."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return self.leaks("\n".join(formatter.format(record) for record in records))


def _shared_secrets(vault: Vault, host: Any, tenant: Any) -> None:
    """Two rotations: the site's three secrets, stored by the app's install path."""
    host.install(rotate_secret=True)
    host.install(rotate_secret=True)
    for i, record in enumerate(host.secrets):
        row = SharedSecret.objects.get(
            tenant_id=tenant.pk, fingerprint=crypto.fingerprint(record.secret)
        )
        state = "current" if row.retired_at is None else "retired"
        vault.store(
            f"Connect shared secret #{i} ({state})", record.secret, SharedSecret, row.pk, "secret"
        )


def _connect_access_token(vault: Vault, host: Any, tenant: Any) -> None:
    account = next(iter(host.accounts))
    ConnectClient(tenant).as_user(account).get(MYSELF).raise_for_status()
    row = AccessToken.objects.get(tenant_id=tenant.pk, account_id=account)
    vault.store("Connect access token", row.token, AccessToken, row.pk, "token")


def _forge(vault: Vault, forge: Any, tenant: Any) -> ForgeInstallation:
    """One UI invocation (system and user token), linked to the tenant, and an offline token."""
    user = next(iter(forge.accounts))
    headers = forge.invocation_headers(account_id=user)
    row = record_invocation(verify_invocation(RequestFactory().get("/forge/x", headers=headers)))
    ForgeInstallation.objects.filter(pk=row.pk).update(tenant=tenant, link_method="manual")
    row.refresh_from_db()
    vault.add("Forge Invocation Token", headers["Authorization"].split(" ", 1)[1])
    vault.add("Forge user token", headers["x-forge-oauth-user"])
    vault.store(
        "Forge app system token", row.system_token, ForgeInstallation, row.pk, "system_token"
    )
    other = forge.add_account("Bo Lee").account_id
    ForgeClient(row).as_user(other).get(MYSELF).raise_for_status()
    (offline,) = [token for token, record in forge.issued.items() if record.kind == "offline"]
    vault.add("Forge offline user token", offline)
    return row


def _threelo(vault: Vault, grant: OAuthGrant, tenant: Any, installation: ForgeInstallation) -> None:
    grant.sites.update(tenant=tenant, forge_installation=installation)
    grant.refresh_from_db()
    vault.store("3LO access token", grant.access_token, OAuthGrant, grant.pk, "access_token")
    vault.store("3LO refresh token", grant.refresh_token, OAuthGrant, grant.pk, "refresh_token")


def _refused_install(vault: Vault, host: Any) -> None:
    """An unsigned ``installed`` carrying the attacker's secret: refused, logged as an event."""
    secret = "ATCO-attacker-" + uuid.uuid4().hex * 2
    body = json.dumps(host.payload("installed", secret))
    response = Client().post("/installed", body, content_type="application/json")
    assert response.status_code == 401, response.content
    assert LifecycleEvent.objects.filter(client_key=host.client_key, accepted=False).exists()
    vault.add("attacker's shared secret (refused install)", secret)


def fill_vault(host: Any, tenant: Any, forge: Any, linked_user: Any) -> Vault:
    """Seed the database through the app's own code paths (see the module doc)."""
    vault = Vault(tenant=tenant, grant=linked_user.oauth_grant)
    _shared_secrets(vault, host, tenant)
    _connect_access_token(vault, host, tenant)
    vault.installation = _forge(vault, forge, tenant)
    _threelo(vault, vault.grant, tenant, vault.installation)
    _refused_install(vault, host)
    conf = settings.ATLASSIAN_CONNECT
    vault.add("OAUTH_CLIENT_SECRET", conf["OAUTH_CLIENT_SECRET"])
    for i, key in enumerate(conf["ENCRYPTION_KEYS"]):
        vault.add(f"ENCRYPTION_KEYS[{i}]", key)
    tenant.refresh_from_db()
    return vault
