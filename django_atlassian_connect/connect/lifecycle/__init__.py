"""Lifecycle callbacks: ``installed``, ``uninstalled``, ``enabled``, ``disabled``.

- :mod:`.payload`: parse the body, app key and product host checks;
- :mod:`.verify`: the token checks in the protocol's order, replay refusal;
- :mod:`.store`: row locks, the secret history, the lifecycle log;
- :mod:`.deliveries`: the transactional service functions and :func:`handle`.
"""

from .deliveries import LifecycleResult, handle, install, set_enabled, uninstall
from .payload import (
    EVENT_TYPES,
    PAYLOAD_FIELDS,
    app_base_urls,
    check_app_key,
    check_product_host,
    is_allowed_product_host,
    parse_payload,
)
from .store import record_refusal
from .verify import verify_signed_install, verify_tenant_callback

__all__ = [
    "EVENT_TYPES",
    "PAYLOAD_FIELDS",
    "LifecycleResult",
    "app_base_urls",
    "check_app_key",
    "check_product_host",
    "handle",
    "install",
    "is_allowed_product_host",
    "parse_payload",
    "record_refusal",
    "set_enabled",
    "uninstall",
    "verify_signed_install",
    "verify_tenant_callback",
]
