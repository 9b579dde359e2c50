"""Forget what this process remembers between tests."""

from __future__ import annotations


def reset_caches() -> None:
    """Forget the install public keys, tenant snapshots, verified tokens and the rate-limit
    writes this process remembers.

    Call it between tests that change ``INSTALL_KEYS_URL``, install keys or
    tenants behind the app's back. Django's own cache is yours to clear
    (``django.core.cache.cache.clear()``).
    """
    # Imported here: the pytest plugin imports this package before Django is set up.
    from ..connect import install_keys, tenant_cache, verified_tokens
    from ..http import ratelimit

    install_keys.clear_memory_cache()
    tenant_cache.clear_process_memory()
    verified_tokens.clear()
    ratelimit.forget_process_memory()
