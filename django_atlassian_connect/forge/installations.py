"""Forge installations: identity mapping (spec §6) and the app system token store (spec §4).

Call :func:`record_invocation` after every *verified* Forge Invocation Token
(the front door does)::

    ctx = verify_invocation(request)
    installation = record_invocation(ctx)   # upsert, newest system token, link if provable

Background work reads the token with :func:`stored_system_token`, which
refuses (``forge_token_expired``) rather than hand out a token about to
expire. There is no endpoint to refresh a system token: only invocations
bring new ones (subscribe an endpoint to an hourly ``scheduledTrigger``).

How an installation is linked to its Connect tenant: :mod:`.linking`, plus
:func:`link_by_app_property` here, the one rule that calls the gateway.
This module imports no view, DRF, decorator or outbound client: it sits
below them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.db import connections, router, transaction
from django.db.models import F, Q, QuerySet

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import ConnectAPIError
from ..models import AbstractTenant, ForgeInstallation, get_tenant_model
from . import ids, linking
from .context import ForgeContext
from .linking import as_datetime, link_connect_install
from .sessions import ForgeSession

__all__ = [
    "CLIENT_KEY_PROPERTY",
    "get_installation",
    "installations_running_out",
    "link_by_app_property",
    "link_connect_install",
    "record_invocation",
    "stored_system_token",
    "system_token_expiry",
    "tenants_not_linked",
]

logger = logging.getLogger("django_atlassian_connect")

#: The reserved, read-only app property holding a Connect-on-Forge installation's clientKey.
CLIENT_KEY_PROPERTY = "connect_client_key_019cdff3-8bfb-71fe-9628-875b700aebb8"
#: A token whose ``exp`` cannot be read is kept this long (spec §4.2).
UNREADABLE_TOKEN_LIFETIME = timedelta(minutes=55)
#: The longest a system token lives (CHANGE-2160). The header is not covered by
#: the FIT's signature: a claimed ``exp`` further out must not pin one token for ever.
MAX_TOKEN_LIFETIME = timedelta(hours=4)
TOKEN_FIELDS = ["system_token", "system_token_expires_at", "system_token_received_at"]

_sqlite_writer = threading.Lock()


def _one_writer_per_process() -> AbstractContextManager[Any]:
    """On SQLite, threads of this process take turns; elsewhere the row lock does it.

    SQLite has one writer at a time and no row locks: a transaction that read
    before it writes fails at once ("database is locked") when another thread
    is writing, instead of waiting. Inside a caller's transaction nothing can
    be done about that, so the lock is taken only around a transaction of ours.
    """
    connection = connections[router.db_for_write(ForgeInstallation)]
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        return _sqlite_writer
    return nullcontext()


def system_token_expiry(token: str, *, now: datetime, issued_at: float | None = None) -> datetime:
    """When a system token stops working: its ``exp``, read without verifying.

    The token is opaque but for ``exp`` (spec §4.1); it only decides how long
    the token is kept. No readable ``exp``: ``now`` + 55 minutes. Never later
    than 4 hours (its documented longest life) after ``now``, nor after
    ``issued_at``, the ``iat`` of the signed FIT it came with: the header is
    unsigned, so its ``exp`` is believed only within what the FIT vouches for.
    """
    cap = now + MAX_TOKEN_LIFETIME
    if issued_at is not None and math.isfinite(issued_at):
        cap = min(cap, datetime.fromtimestamp(max(issued_at, 0), tz=UTC) + MAX_TOKEN_LIFETIME)
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
            raise ValueError("exp is not a number")
        return datetime.fromtimestamp(min(max(exp, 0), cap.timestamp()), tz=UTC)
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error, OverflowError, OSError):
        return min(now + UNREADABLE_TOKEN_LIFETIME, cap)


def _context_fields(ctx: ForgeContext, when: datetime) -> dict[str, Any]:
    """What a verified FIT says about its installation (absent claims change nothing)."""
    fields: dict[str, Any] = {
        "app_id": ctx.app_id,
        "environment_type": ctx.environment_type,
        "environment_id": ctx.environment_id,
        "product": ctx.product,
        "cloud_id": ctx.cloud_id,
        "api_base_url": ctx.api_base_url,
        "site_url": ctx.site_url,
    }
    fields = {name: value for name, value in fields.items() if value}
    fields["last_seen_at"] = when
    return fields


def record_invocation(ctx: ForgeContext, *, now: float | None = None) -> ForgeInstallation:
    """Upsert the installation of a verified invocation, keep the newest system token, link it.

    Call it only after the FIT verified. One transaction, under the row's
    lock; two first invocations racing for one installation both succeed.
    Refreshes ``last_seen_at``, ``api_base_url``, ``cloud_id``, ``app_id``,
    the environment and product, and ``site_url`` when the FIT has one.
    Stores ``ctx.system_token`` (encrypted) only if present and its ``exp``
    is strictly later than the stored token's: a request without the header
    never clears it, and a token that arrives late never replaces a newer one.
    An unlinked installation is linked when stored facts prove its tenant
    (:mod:`.linking`; never by site URL).
    """
    when = as_datetime(now)
    fields = _context_fields(ctx, when)
    token = ctx.system_token or None
    expires = system_token_expiry(token, now=when, issued_at=ctx.issued_at) if token else None
    token_fields: dict[str, Any] = {}
    if token and expires is not None and expires > when:
        token_fields = {
            "system_token": token,
            "system_token_expires_at": expires,
            "system_token_received_at": when,
        }
    with _one_writer_per_process(), transaction.atomic():
        row, created = linking.lock_installation(
            ctx.installation_id, create_with={**fields, **token_fields, "first_seen_at": when}
        )
        assert row is not None
        changed: list[str] = []
        if not created:
            for name, value in fields.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
                    changed.append(name)
            if row.first_seen_at is None:  # created by a Connect install before any invocation
                row.first_seen_at = when
                changed.append("first_seen_at")
            stored = row.system_token_expires_at
            if token_fields and (
                stored is None or token_fields["system_token_expires_at"] > stored
            ):
                for name, value in token_fields.items():
                    setattr(row, name, value)
                changed.extend(TOKEN_FIELDS)
        changed.extend(linking.link_from_stored_facts(row, when))
        if changed:
            row.save(update_fields=changed)
    return row


def get_installation(installation_id: str) -> ForgeInstallation | None:
    """The installation by ARI or bare uuid (a lifecycle event's ``id``); ``None`` if unknown."""
    try:
        installation_id = ids.normalise_installation_id(installation_id)
    except ValueError:
        return None
    return ForgeInstallation._default_manager.filter(installation_id=installation_id).first()


def stored_system_token(
    installation: ForgeInstallation,
    *,
    min_validity: float | None = None,
    now: float | None = None,
) -> str:
    """The stored system token, if it has more than ``min_validity`` seconds left.

    Default ``FORGE_TOKEN_MARGIN``. Otherwise ``ConnectClientError``
    ``forge_token_expired`` (with ``installation``): no call is made with a
    token that may expire on the way. Reads the row as given (re-read it
    for a long-running job).
    """
    margin = float(connect_settings.FORGE_TOKEN_MARGIN if min_validity is None else min_validity)
    when = as_datetime(now)
    expires = installation.system_token_expires_at
    token = installation.system_token
    if token and expires is not None and (expires - when).total_seconds() > margin:
        return str(token)
    if not token or expires is None:
        state = "no app system token is stored for it yet"
    elif expires <= when:
        state = f"the stored one expired at {expires:%Y-%m-%dT%H:%M:%SZ}"
    else:
        left = (expires - when).total_seconds()
        state = f"the stored one expires in {left:.0f} s, at most {margin:g} s is allowed"
    raise ConnectClientError(
        "forge_token_expired",
        f"No fresh Forge app system token for installation {installation.installation_id}: "
        f"{state}; nothing was sent.",
        installation=installation,
    )


def _client_key_property_path(product: str) -> str:
    """The property's path under the installation's ``apiBaseUrl``."""
    wiki = "/wiki" if product == "confluence" else ""
    key = quote(str(connect_settings.APP_KEY), safe="")
    return f"{wiki}/rest/atlassian-connect/1/addons/{key}/properties/{CLIENT_KEY_PROPERTY}"


def _client_key_from(body: Any) -> str | None:
    """A string ``value``, or an object ``value`` with a string ``clientKey`` (spec §6)."""
    value = body.get("value") if isinstance(body, dict) else None
    if isinstance(value, dict):
        value = value.get("clientKey")
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def connect_client_key(installation: ForgeInstallation) -> str | None:
    """The clientKey the gateway holds for this installation (spec §6, option 2), or ``None``.

    ``GET {apiBaseUrl}[/wiki]/rest/atlassian-connect/1/addons/{APP_KEY}/properties/
    connect_client_key_…`` with the stored system token, to the gateway only
    (``FORGE_API_HOSTS``), redirects not followed. ``None``: not Jira or
    Confluence, or no such property (404). Raises ``forge_token_expired``,
    ``url_not_allowed`` (nothing sent) or :class:`ConnectAPIError`.
    """
    product = installation.product or ids.product_of(installation.api_base_url)
    if product not in ("jira", "confluence"):
        return None
    path = _client_key_property_path(product)

    def stored(method: str | None, url: str | None) -> tuple[str, float, str]:
        token = stored_system_token(installation)  # forge_token_expired: nothing sent
        expires = installation.system_token_expires_at
        return token, expires.timestamp() if expires else 0.0, "stored app system token"

    # FORGE_API_HOSTS (url_not_allowed) and the token are checked before anything is sent.
    with ForgeSession(
        installation, installation.api_base_url, stored, raise_for_status=False
    ) as session:
        response = session.get(path, headers={"Accept": "application/json"}, allow_redirects=False)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ConnectAPIError(
                f"The gateway answered {response.status_code} for the Connect clientKey "
                f"property of installation {installation.installation_id}.",
                response=response,
                hint=session.hint_for(response) or None,
                installation=installation,
            )
    try:
        body = response.json()
    except ValueError:
        body = None
    client_key = _client_key_from(body)
    if client_key is None:
        logger.warning(
            "forge installation %s: the clientKey property has an unexpected shape",
            installation.installation_id,
        )
    return client_key


def link_by_app_property(
    installation: ForgeInstallation, *, now: float | None = None
) -> AbstractTenant | None:
    """Link to the installed tenant whose clientKey the gateway names (spec §6, option 2).

    For installations whose app keeps no Connect lifecycle; call it on
    ``avi:forge:installed:app`` or lazily, with a fresh stored system token.
    Returns the tenant linked, or ``None``: no property, no installed tenant
    with that clientKey, or a stronger link to another tenant kept. Updates
    ``installation`` in place. Errors as :func:`connect_client_key`.
    """
    client_key = connect_client_key(installation)
    if client_key is None:
        return None
    manager = get_tenant_model()._default_manager
    tenant = manager.filter(client_key=client_key, is_installed=True).first()
    if tenant is None:
        logger.warning(
            "forge installation %s: clientKey %s is no installed tenant here; not linked",
            installation.installation_id,
            client_key,
        )
        return None
    with _one_writer_per_process(), transaction.atomic():
        row, _ = linking.lock_installation(installation.installation_id)
        if row is None:
            return None
        changed = linking.link(
            row, tenant, ForgeInstallation.LinkMethod.APP_PROPERTY, as_datetime(now)
        )
        if changed:
            row.save(update_fields=changed)
    for name in ("tenant_id", "link_method", "linked_at", "superseded_at"):
        setattr(installation, name, getattr(row, name))
    return tenant if row.tenant_id == tenant.pk else None


def installations_running_out(
    *, within: float = 3600, now: float | None = None
) -> QuerySet[ForgeInstallation]:
    """Current installations whose stored system token expires within ``within`` seconds.

    Includes those whose token already expired and those that never had one;
    superseded and uninstalled installations are left out (no trigger will
    come for them). Soonest first, none-yet first of all.
    """
    cutoff = as_datetime(now) + timedelta(seconds=within)
    return (
        ForgeInstallation._default_manager.filter(
            superseded_at__isnull=True, uninstalled_at__isnull=True
        )
        .filter(Q(system_token_expires_at__isnull=True) | Q(system_token_expires_at__lt=cutoff))
        .order_by(F("system_token_expires_at").asc(nulls_first=True), "pk")
    )


def tenants_not_linked() -> QuerySet[Any]:
    """Installed Connect tenants with no current Forge installation linked.

    They are not ready for Connect's end of support (2027-01-31).
    """
    linked = ForgeInstallation._default_manager.filter(
        tenant__isnull=False, superseded_at__isnull=True
    ).values("tenant_id")
    return get_tenant_model()._default_manager.filter(is_installed=True).exclude(pk__in=linked)
