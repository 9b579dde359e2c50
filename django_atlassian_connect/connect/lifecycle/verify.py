"""Verify a lifecycle delivery's token, in the protocol's order, and refuse replays.

``installed`` / ``uninstalled``: a signed install (RS256, Atlassian's key by
``kid``). ``enabled`` / ``disabled``: HS256 with the tenant's secret, the
signature checked before the tenant's state. The replay checks run inside
the caller's transaction, under the tenant's row lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from ...conf import connect_settings
from ...exceptions import ConnectAuthError
from ...models import AbstractTenant, LifecycleEvent, SeenLifecycleToken
from ...tokens import (
    ParsedToken,
    check_audience,
    check_qsh,
    check_times,
    parse_token,
    require_algorithm,
    verify_rs256,
)
from .. import install_keys
from ..inbound import check_tenant_state, load_tenant, unverified_issuer, verify_tenant_token
from .payload import app_base_urls, str_or_none


def verify_signed_install(
    payload: Mapping[str, Any],
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> ParsedToken:
    """The checks of a signed install (RS256), in the protocol's order."""
    client_key = payload["clientKey"]
    if not token:
        raise ConnectAuthError(
            "token_missing",
            "The lifecycle callback carries no JWT: signed installs are required "
            "(apiMigrations 'signed-install' in the descriptor).",
            client_key=client_key,
        )
    parsed = parse_token(token, max_length=connect_settings.MAX_TOKEN_LENGTH)
    require_algorithm(parsed, "RS256")
    kid = install_keys.validate_kid(parsed.header.get("kid"))
    public_key = install_keys.fetch_install_key(kid, payload["baseUrl"])
    verify_rs256(parsed, public_key)
    check_times(parsed, now=now, leeway=connect_settings.LEEWAY)
    check_audience(parsed, app_base_urls())
    check_qsh(parsed, context=False, matches=qsh_matches)
    if parsed.issuer != client_key:
        raise ConnectAuthError(
            "issuer_mismatch",
            f"The install token's iss {str(parsed.issuer)[:100]!r} is not the "
            f"body's clientKey {client_key!r}.",
            client_key=client_key,
        )
    return parsed


def verify_tenant_callback(
    payload: Mapping[str, Any],
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> AbstractTenant:
    """``enabled`` / ``disabled``: HS256 with the tenant's secret, computed qsh."""
    client_key = payload["clientKey"]
    if not token:
        raise ConnectAuthError(
            "token_missing", "The lifecycle callback carries no JWT.", client_key=client_key
        )
    parsed = parse_token(token, max_length=connect_settings.MAX_TOKEN_LENGTH)
    require_algorithm(parsed, "HS256")
    client_key_claimed = unverified_issuer(parsed)
    # Signature before state: an unsigned caller learns nothing of the tenant.
    tenant = load_tenant(client_key_claimed, allow_uninstalled=True, allow_disabled=True)
    verify_tenant_token(parsed, tenant, now=now)
    check_tenant_state(tenant, client_key_claimed, allow_disabled=True)
    check_qsh(parsed, context=False, matches=qsh_matches)
    if parsed.issuer != client_key:
        raise ConnectAuthError(
            "issuer_mismatch",
            f"The token's iss {str(parsed.issuer)[:100]!r} is not the body's "
            f"clientKey {client_key!r}.",
            client_key=client_key,
        )
    return tenant


def token_issued_at(parsed: ParsedToken) -> datetime:
    """The verified token's ``iat`` (a finite number: ``check_times`` made sure)."""
    try:
        return datetime.fromtimestamp(float(parsed.claims["iat"]), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ConnectAuthError(
            "token_malformed",
            "The install token's iat is not a plausible time.",
            client_key=str_or_none(parsed.issuer),
        ) from exc


def check_not_replayed(client_key: str, issued_at: datetime) -> None:
    """Refuse a signed lifecycle token older than the newest one accepted for ``client_key``.

    The body of a signed install is not signed: whoever holds an unexpired
    install token could post it again with another ``sharedSecret``, e.g.
    after the app was uninstalled. Atlassian signs a fresh token for every
    delivery, so a token issued before one we already accepted is a replay.
    Tokens of the same second are accepted (``iat`` has one-second resolution).
    Call it under the tenant's row lock.
    """
    latest = LifecycleEvent.objects.filter(
        client_key=client_key,
        accepted=True,
        event_type__in=("installed", "uninstalled"),
        token_issued_at__isnull=False,
    ).aggregate(latest=Max("token_issued_at"))["latest"]
    if latest is not None and issued_at < latest:
        raise ConnectAuthError(
            "token_replayed",
            f"The install token was issued at {issued_at:%Y-%m-%dT%H:%M:%SZ}, before the "
            f"newest signed lifecycle callback already accepted for {client_key!r} (issued at "
            f"{latest:%Y-%m-%dT%H:%M:%SZ}): an old token is being replayed.",
            client_key=client_key,
        )


def check_token_unused(event_type: str, client_key: str, token: str, parsed: ParsedToken) -> None:
    """Refuse a signed lifecycle token seen before, even from the same second.

    ``check_not_replayed`` catches older tokens; this catches the very same
    token posted again within its life (the body, with its ``sharedSecret``,
    is not signed). The token's digest is inserted in the caller's
    transaction: if the delivery fails and rolls back, the token was not used
    and the product may retry with it. The unique constraint decides races
    between processes. Call it under the tenant's row lock.
    """
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    try:
        exp = float(parsed.claims["exp"])
        expires_at = datetime.fromtimestamp(exp, tz=UTC) + timedelta(
            seconds=connect_settings.LEEWAY
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        # check_times accepted it, so exp is a finite number; be safe anyway.
        expires_at = datetime.now(tz=UTC) + timedelta(days=1)
    try:
        with transaction.atomic():
            SeenLifecycleToken.objects.create(
                digest=digest,
                client_key=client_key[:255],
                event_type=event_type,
                expires_at=expires_at,
            )
    except IntegrityError as exc:
        raise ConnectAuthError(
            "token_replayed",
            f"This {event_type} token was already used for {client_key!r}: the product "
            "signs a fresh token for every delivery, so this is a replay (the body, which "
            "the token does not sign, may have been changed).",
            client_key=client_key,
        ) from exc
