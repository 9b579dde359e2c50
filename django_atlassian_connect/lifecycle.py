"""Lifecycle callbacks as transactional service functions.

``installed`` / ``uninstalled`` are signed installs (RS256, Atlassian's key
by ``kid``); ``enabled`` / ``disabled`` are HS256 with the tenant's secret.
Each delivery is verified in the order of the protocol, then persisted in one
transaction under a row lock, then recorded as a :class:`LifecycleEvent`.
A refused delivery changes nothing but adds its refused event. Signals are
sent after commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Max

from . import keys, signals
from .conf import connect_settings
from .exceptions import ConnectAuthError
from .inbound import check_tenant_state, load_tenant, unverified_issuer, verify_tenant_token
from .models import (
    AbstractTenant,
    LifecycleEvent,
    SeenLifecycleToken,
    SharedSecret,
    get_tenant_model,
)
from .tokens import (
    ParsedToken,
    check_audience,
    check_qsh,
    check_times,
    has_unstorable_text,
    parse_token,
    require_algorithm,
    verify_rs256,
)

logger = logging.getLogger("django_atlassian_connect")

EVENT_TYPES = ("installed", "uninstalled", "enabled", "disabled")

# payload field -> tenant field
PAYLOAD_FIELDS = {
    "baseUrl": "base_url",
    "displayUrl": "display_url",
    "displayUrlServicedeskHelpCenter": "display_url_servicedesk_help_center",
    "productType": "product_type",
    "description": "description",
    "serviceEntitlementNumber": "service_entitlement_number",
    "entitlementId": "entitlement_id",
    "entitlementNumber": "entitlement_number",
    "oauthClientId": "oauth_client_id",
    "installationId": "installation_id",
    "serverVersion": "server_version",
    "pluginsVersion": "plugins_version",
}
_MAX_FIELD = {"description": 4000, "sharedSecret": 512}
_RECORDED_FIELDS = ("key", "clientKey", "eventType", *PAYLOAD_FIELDS)


@dataclass(frozen=True)
class LifecycleResult:
    event_type: str
    tenant: AbstractTenant
    created: bool = False
    secret_rotated: bool = False


# -- payload ---------------------------------------------------------------------


def parse_payload(body: bytes, event_type: str) -> dict[str, Any]:
    """The JSON body as a dict with the required string fields, or ``payload_invalid``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConnectAuthError(
            "payload_invalid", f"The {event_type} body is not valid JSON."
        ) from exc
    if not isinstance(payload, dict):
        raise ConnectAuthError("payload_invalid", f"The {event_type} body is not a JSON object.")
    required = ["key", "clientKey", "baseUrl"]
    if event_type == "installed":
        required.append("sharedSecret")
    for name in required:
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body lacks the string field {name!r}.",
                client_key=_str_or_none(payload.get("clientKey")),
            )
    for name in ("key", "clientKey", "eventType", *PAYLOAD_FIELDS, "sharedSecret"):
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} must be a string.",
                client_key=_str_or_none(payload.get("clientKey")),
            )
        limit = _max_length(name)
        if len(value) > limit:
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} is longer than {limit} characters.",
                client_key=_str_or_none(payload.get("clientKey")),
            )
        if has_unstorable_text(value):
            raise ConnectAuthError(
                "payload_invalid",
                f"The {event_type} body field {name!r} contains a NUL character or an "
                "unpaired surrogate.",
                client_key=_str_or_none(payload.get("clientKey")),
            )
    declared = payload.get("eventType")
    if declared is not None and declared != event_type:
        raise ConnectAuthError(
            "payload_invalid",
            f"A body with eventType {str(declared)[:20]!r} was sent to the {event_type} callback.",
            client_key=payload["clientKey"],
        )
    try:
        parts = urlsplit(payload["baseUrl"])
        hostname = parts.hostname
    except ValueError:  # e.g. "https://[bad"
        hostname = None
    if not hostname or parts.scheme not in ("http", "https"):
        raise ConnectAuthError(
            "payload_invalid",
            f"The baseUrl {payload['baseUrl'][:100]!r} is not an http(s) URL.",
            client_key=payload["clientKey"],
        )
    return payload


def _str_or_none(value: Any) -> str | None:
    if not isinstance(value, str) or has_unstorable_text(value):
        return None
    return value[:255]


def _max_length(name: str) -> int:
    """The longest value a payload field may have: what its tenant column holds."""
    if name in _MAX_FIELD:
        return _MAX_FIELD[name]
    attr = PAYLOAD_FIELDS.get(name)
    if attr is not None:
        try:
            limit = getattr(get_tenant_model()._meta.get_field(attr), "max_length", None)
        except FieldDoesNotExist:
            limit = None
        if isinstance(limit, int) and limit > 0:
            return min(limit, 255)
    return 255


def check_app_key(payload: Mapping[str, Any]) -> None:
    if payload["key"] != connect_settings.APP_KEY:
        raise ConnectAuthError(
            "app_key_mismatch",
            f"The body's key {payload['key'][:100]!r} is not this app's key "
            f"{connect_settings.APP_KEY!r}.",
            client_key=payload["clientKey"],
        )


def is_allowed_product_host(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return bool(host) and any(
        fnmatch(host, pattern.lower()) for pattern in connect_settings.ALLOWED_PRODUCT_HOSTS
    )


def check_product_host(payload: Mapping[str, Any]) -> None:
    if not is_allowed_product_host(payload["baseUrl"]):
        host = urlsplit(payload["baseUrl"]).hostname
        raise ConnectAuthError(
            "product_host_not_allowed",
            f"The site host {host!r} matches none of ALLOWED_PRODUCT_HOSTS "
            f"({', '.join(connect_settings.ALLOWED_PRODUCT_HOSTS)}).",
            client_key=payload["clientKey"],
        )


def app_base_urls() -> list[str]:
    return [connect_settings.BASE_URL, *connect_settings.EXTRA_BASE_URLS]


# -- verification -----------------------------------------------------------------


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
    kid = keys.validate_kid(parsed.header.get("kid"))
    public_key = keys.fetch_install_key(kid, payload["baseUrl"])
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


# -- persistence -----------------------------------------------------------------


def _tenant_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    fields = {"app_key": payload["key"]}
    for name, attr in PAYLOAD_FIELDS.items():
        value = payload.get(name)
        fields[attr] = value if isinstance(value, str) else ""
    return fields


def _lock_tenant(
    client_key: str, create_with: dict[str, Any] | None = None
) -> tuple[AbstractTenant | None, bool]:
    """Lock the tenant row; create it when ``create_with`` is given.

    Two first installs racing for one clientKey: the loser's INSERT fails on
    the unique constraint and it locks the winner's row instead.
    """
    Tenant = get_tenant_model()
    manager = Tenant._default_manager
    tenant = manager.select_for_update().filter(client_key=client_key).first()
    if tenant is not None or create_with is None:
        return tenant, False
    try:
        with transaction.atomic():
            return manager.create(client_key=client_key, **create_with), True
    except IntegrityError:
        return manager.select_for_update().get(client_key=client_key), False


def _store_secret(
    tenant: AbstractTenant, secret: str, when: datetime
) -> tuple[SharedSecret, SharedSecret | None]:
    """Make ``secret`` current; return ``(current, retired)``.

    The same secret again (an upgrade without rotation) keeps its row.
    """
    current = (
        SharedSecret.objects.select_for_update()
        .filter(tenant_id=tenant.pk, retired_at__isnull=True)
        .first()
    )
    if (
        current is not None
        and current.secret is not None
        and hmac.compare_digest(current.secret.encode("utf-8"), secret.encode("utf-8"))
    ):
        return current, None
    if current is not None:
        current.retired_at = when
        current.save(update_fields=["retired_at"])
    new = SharedSecret.for_secret(tenant, secret, became_current_at=when)
    new.save()
    return new, current


def _record(
    event_type: str,
    payload: Mapping[str, Any] | None,
    *,
    tenant: AbstractTenant | None = None,
    error: ConnectAuthError | None = None,
    status_code: int = 204,
    secret: SharedSecret | None = None,
    rotated: bool = False,
    detail: str = "",
    client_key: str | None = None,
    token_issued_at: datetime | None = None,
) -> LifecycleEvent:
    recorded = {}
    if payload:
        recorded = {
            name: payload[name][:300]
            for name in _RECORDED_FIELDS
            if isinstance(payload.get(name), str)
        }
    key = client_key or (payload or {}).get("clientKey")
    return LifecycleEvent.objects.create(
        event_type=event_type,
        client_key=key[:255] if isinstance(key, str) else "",
        tenant_id=tenant.pk if tenant is not None else None,
        accepted=error is None,
        status_code=error.status_code if error else status_code,
        error_code=error.code if error else "",
        detail=(f"{error.detail}" if error else detail)[:2000],
        base_url=recorded.get("baseUrl", "")[:255],
        secret_fingerprint=secret.fingerprint if secret else "",
        secret_rotated=rotated,
        payload=recorded,
        token_issued_at=token_issued_at,
    )


def record_refusal(
    event_type: str, payload: Mapping[str, Any] | None, error: ConnectAuthError
) -> None:
    """Record a refused delivery in its own transaction (best effort)."""
    try:
        with transaction.atomic():
            tenant = None
            key = error.client_key or (payload or {}).get("clientKey")
            if isinstance(key, str):
                tenant = get_tenant_model()._default_manager.filter(client_key=key).first()
            _record(event_type, payload, tenant=tenant, error=error, client_key=error.client_key)
    except Exception:  # the refusal itself must still be answered
        logger.exception("could not record a refused %s delivery", event_type)


def _now_datetime(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)


def _issued_at(parsed: ParsedToken) -> datetime:
    """The verified token's ``iat`` (a finite number: ``check_times`` made sure)."""
    try:
        return datetime.fromtimestamp(float(parsed.claims["iat"]), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ConnectAuthError(
            "token_malformed",
            "The install token's iat is not a plausible time.",
            client_key=_str_or_none(parsed.issuer),
        ) from exc


def _check_not_replayed(client_key: str, issued_at: datetime) -> None:
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


def _check_token_unused(event_type: str, client_key: str, token: str, parsed: ParsedToken) -> None:
    """Refuse a signed lifecycle token seen before, even from the same second.

    ``_check_not_replayed`` catches older tokens; this catches the very same
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


def install(
    payload: Mapping[str, Any],
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> LifecycleResult:
    check_app_key(payload)
    check_product_host(payload)
    parsed = verify_signed_install(payload, token, qsh_matches, now=now)
    issued_at = _issued_at(parsed)
    fields = _tenant_fields(payload)
    with transaction.atomic():
        tenant, created = _lock_tenant(
            payload["clientKey"], {**fields, "installed_at": _now_datetime(now)}
        )
        assert tenant is not None and token is not None
        _check_not_replayed(payload["clientKey"], issued_at)
        _check_token_unused("installed", payload["clientKey"], token, parsed)
        # Taken under the lock, so the secret history follows the commit order
        # even when deliveries race (a secret is retired when its successor
        # becomes current, never before it became current itself).
        when = _now_datetime(now)
        for attr, value in fields.items():
            setattr(tenant, attr, value)
        tenant.is_installed = True
        tenant.installed_at = when
        tenant.uninstalled_at = None
        tenant.save()
        secret, retired = _store_secret(tenant, payload["sharedSecret"], when)
        rotated = retired is not None
        _record(
            "installed",
            payload,
            tenant=tenant,
            secret=secret,
            rotated=rotated,
            detail="first install" if created else ("secret rotated" if rotated else "reinstall"),
            token_issued_at=issued_at,
        )
        transaction.on_commit(
            lambda: signals.tenant_installed.send(
                sender=type(tenant), tenant=tenant, created=created
            )
        )
        if retired is not None:
            previous = retired.fingerprint
            transaction.on_commit(
                lambda: signals.shared_secret_rotated.send(
                    sender=type(tenant),
                    tenant=tenant,
                    previous_fingerprint=previous,
                    fingerprint=secret.fingerprint,
                )
            )
    logger.info(
        "installed: %s %s (%s, secret %s%s)",
        tenant.client_key,
        tenant.base_url,
        "new tenant" if created else "reinstall",
        secret.fingerprint,
        ", rotated" if rotated else "",
    )
    return LifecycleResult("installed", tenant, created=created, secret_rotated=rotated)


def uninstall(
    payload: Mapping[str, Any],
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> LifecycleResult | None:
    """Soft delete: the row and its history stay; its tokens stop working.

    ``None`` when no such tenant exists (nothing to do).
    """
    check_app_key(payload)
    check_product_host(payload)
    parsed = verify_signed_install(payload, token, qsh_matches, now=now)
    issued_at = _issued_at(parsed)
    with transaction.atomic():
        tenant, _ = _lock_tenant(payload["clientKey"])
        assert token is not None
        _check_not_replayed(payload["clientKey"], issued_at)
        _check_token_unused("uninstalled", payload["clientKey"], token, parsed)
        when = _now_datetime(now)
        if tenant is None:
            _record(
                "uninstalled",
                payload,
                detail="no such tenant; nothing to do",
                token_issued_at=issued_at,
            )
            return None
        tenant.is_installed = False
        tenant.uninstalled_at = when
        tenant.save(update_fields=["is_installed", "uninstalled_at", "updated_at"])
        _record(
            "uninstalled", payload, tenant=tenant, detail="uninstalled", token_issued_at=issued_at
        )
        transaction.on_commit(
            lambda: signals.tenant_uninstalled.send(sender=type(tenant), tenant=tenant)
        )
    logger.info("uninstalled: %s %s", tenant.client_key, tenant.base_url)
    return LifecycleResult("uninstalled", tenant)


def set_enabled(
    event_type: str,
    payload: Mapping[str, Any],
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> LifecycleResult:
    enabled = event_type == "enabled"
    check_app_key(payload)
    verify_tenant_callback(payload, token, qsh_matches, now=now)
    when = _now_datetime(now)
    with transaction.atomic():
        tenant, _ = _lock_tenant(payload["clientKey"])
        assert tenant is not None  # verified above
        tenant.is_enabled = enabled
        if enabled:
            tenant.enabled_at = when
        else:
            tenant.disabled_at = when
        tenant.save(update_fields=["is_enabled", "enabled_at", "disabled_at", "updated_at"])
        _record(event_type, payload, tenant=tenant, detail=event_type)
        signal = signals.tenant_enabled if enabled else signals.tenant_disabled
        transaction.on_commit(lambda: signal.send(sender=type(tenant), tenant=tenant))
    logger.info("%s: %s %s", event_type, tenant.client_key, tenant.base_url)
    return LifecycleResult(event_type, tenant)


def handle(
    event_type: str,
    body: bytes,
    token: str | None,
    qsh_matches: Callable[[str], bool],
    *,
    now: float | None = None,
) -> LifecycleResult | None:
    """Process one delivery; on refusal record it and raise the error."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown lifecycle event {event_type!r}")
    payload: dict[str, Any] | None = None
    try:
        payload = parse_payload(body, event_type)
        if event_type == "installed":
            return install(payload, token, qsh_matches, now=now)
        if event_type == "uninstalled":
            return uninstall(payload, token, qsh_matches, now=now)
        return set_enabled(event_type, payload, token, qsh_matches, now=now)
    except ConnectAuthError as error:
        if error.client_key is None and payload is not None:
            error.client_key = payload.get("clientKey")
        logger.warning(
            "lifecycle %s refused: code=%s client_key=%s detail=%s",
            event_type,
            error.code,
            error.client_key or "-",
            error.detail,
        )
        record_refusal(event_type, payload, error)
        raise
    except DatabaseError as exc:
        # The transaction rolled back: nothing changed. Answer "try again" (503)
        # rather than 500, and record the failed delivery if the database lets us.
        client_key = _str_or_none((payload or {}).get("clientKey"))
        logger.error(
            "lifecycle %s failed: database error (%s: %s) client_key=%s; rolled back",
            event_type,
            type(exc).__name__,
            str(exc).strip()[:300],
            client_key or "-",
        )
        failure = ConnectAuthError(
            "database_unavailable",
            f"The database failed while storing the {event_type} callback "
            f"({type(exc).__name__}); nothing was changed.",
            client_key=client_key,
        )
        record_refusal(event_type, payload, failure)
        raise failure from exc
