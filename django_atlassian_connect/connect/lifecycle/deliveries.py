"""The four callbacks as transactional service functions.

Each delivery is verified in the order of the protocol, then persisted in one
transaction under a row lock, then recorded as a ``LifecycleEvent``. A
refused delivery changes nothing but adds its refused event. Signals are
sent after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

from ... import signals
from ...exceptions import ConnectAuthError
from ...models import AbstractTenant
from .payload import (
    EVENT_TYPES,
    check_app_key,
    check_product_host,
    parse_payload,
    str_or_none,
    tenant_fields,
)
from .store import (
    link_forge_installation,
    lock_tenant,
    now_datetime,
    record,
    record_refusal,
    store_secret,
    uninstall_forge_installations,
)
from .verify import (
    check_not_replayed,
    check_token_unused,
    token_issued_at,
    verify_signed_install,
    verify_tenant_callback,
)

logger = logging.getLogger("django_atlassian_connect")


def after_commit(event_type: str, func: Callable[[], Any]) -> None:
    """Run ``func`` (a signal) once the delivery has committed.

    What fails then (a receiver that raises, the database gone right after the
    commit) is logged and changes nothing: the delivery is committed, so it
    must be answered as applied. Answering 503 would make the product keep the
    secret it just replaced here.
    """

    def run() -> None:
        try:
            func()
        except Exception:
            logger.exception("lifecycle %s: a receiver failed after the commit", event_type)

    transaction.on_commit(run)


@dataclass(frozen=True)
class LifecycleResult:
    event_type: str
    tenant: AbstractTenant
    created: bool = False
    secret_rotated: bool = False


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
    issued_at = token_issued_at(parsed)
    fields = tenant_fields(payload)
    with transaction.atomic():
        tenant, created = lock_tenant(
            payload["clientKey"], {**fields, "installed_at": now_datetime(now)}
        )
        assert tenant is not None and token is not None
        check_not_replayed(payload["clientKey"], issued_at)
        check_token_unused("installed", payload["clientKey"], token, parsed)
        # Taken under the lock, so the secret history follows the commit order
        # even when deliveries race (a secret is retired when its successor
        # becomes current, never before it became current itself).
        when = now_datetime(now)
        for attr, value in fields.items():
            setattr(tenant, attr, value)
        tenant.is_installed = True
        tenant.installed_at = when
        tenant.uninstalled_at = None
        tenant.save()
        secret, retired = store_secret(tenant, payload["sharedSecret"], when)
        link_forge_installation(tenant, fields["installation_id"], now)
        rotated = retired is not None
        record(
            "installed",
            payload,
            tenant=tenant,
            secret=secret,
            rotated=rotated,
            detail="first install" if created else ("secret rotated" if rotated else "reinstall"),
            token_issued_at=issued_at,
        )
        after_commit(
            "installed",
            lambda: signals.tenant_installed.send(
                sender=type(tenant), tenant=tenant, created=created
            ),
        )
        if retired is not None:
            previous = retired.fingerprint
            after_commit(
                "installed",
                lambda: signals.shared_secret_rotated.send(
                    sender=type(tenant),
                    tenant=tenant,
                    previous_fingerprint=previous,
                    fingerprint=secret.fingerprint,
                ),
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
    issued_at = token_issued_at(parsed)
    with transaction.atomic():
        tenant, _ = lock_tenant(payload["clientKey"])
        assert token is not None
        check_not_replayed(payload["clientKey"], issued_at)
        check_token_unused("uninstalled", payload["clientKey"], token, parsed)
        when = now_datetime(now)
        if tenant is None:
            record(
                "uninstalled",
                payload,
                detail="no such tenant; nothing to do",
                token_issued_at=issued_at,
            )
            return None
        tenant.is_installed = False
        tenant.uninstalled_at = when
        tenant.save(update_fields=["is_installed", "uninstalled_at", "updated_at"])
        gone = uninstall_forge_installations(tenant, now)
        detail = "uninstalled" + (f"; forge {', '.join(gone)} uninstalled" if gone else "")
        record("uninstalled", payload, tenant=tenant, detail=detail, token_issued_at=issued_at)
        after_commit(
            "uninstalled",
            lambda: signals.tenant_uninstalled.send(sender=type(tenant), tenant=tenant),
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
    when = now_datetime(now)
    with transaction.atomic():
        tenant, _ = lock_tenant(payload["clientKey"])
        assert tenant is not None  # verified above
        tenant.is_enabled = enabled
        if enabled:
            tenant.enabled_at = when
        else:
            tenant.disabled_at = when
        tenant.save(update_fields=["is_enabled", "enabled_at", "disabled_at", "updated_at"])
        record(event_type, payload, tenant=tenant, detail=event_type)
        signal = signals.tenant_enabled if enabled else signals.tenant_disabled
        after_commit(event_type, lambda: signal.send(sender=type(tenant), tenant=tenant))
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
        client_key = str_or_none((payload or {}).get("clientKey"))
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
