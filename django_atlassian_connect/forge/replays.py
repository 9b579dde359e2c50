"""Which verified invocations may change stored state: a FIT's first use, in any process.

A Forge Invocation Token is a bearer token that stays valid for its life plus
the leeway (about 55 s), and the ``x-forge-oauth-system`` header that comes
with it is **not** covered by its signature. Served twice, a captured FIT
could carry a forged system token whose unsigned ``exp`` is far out, and the
"keep the token with the latest exp" rule would pin it. So a FIT changes
stored state (the installation row, the system token) on its first use only:
its ``jti`` is claimed with ``cache.add`` in ``FORGE_JWKS_CACHE_ALIAS`` (use a
cache every process shares) until the token can no longer verify. A later
use may still be served (``FORGE_REJECT_REPLAYED_JTI`` refuses it instead),
but writes nothing.

A cache that cannot be reached does not stop Forge's deliveries: the use then
counts as a first use (logged), the stored-token rule still bounds what it
can do (``exp`` clamped to the FIT's ``iat`` plus the token's documented
lifetime).
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import caches

from ..conf import connect_settings
from .context import ForgeContext
from .invocation import MAX_LEEWAY

logger = logging.getLogger("django_atlassian_connect")

_PREFIX = "atlassian_connect:forge_jti_state:"


def _key(context: ForgeContext) -> str:
    return _PREFIX + hashlib.sha256(context.jti.encode("utf-8")).hexdigest()


def claim_first_use(context: ForgeContext, *, now: float) -> bool:
    """``True`` the first time this FIT's ``jti`` is seen by any process, else ``False``."""
    # Until the FIT can no longer verify, with FORGE_LEEWAY at its cap.
    timeout = max(1, int(context.expires_at - now) + MAX_LEEWAY + 1)
    try:
        return bool(caches[connect_settings.FORGE_JWKS_CACHE_ALIAS].add(_key(context), 1, timeout))
    except Exception as exc:  # a cache outage must not stop Forge's deliveries
        logger.warning(
            "forge jti cache unavailable (%s): invocation %s counted as a first use",
            type(exc).__name__,
            context.installation_id,
        )
        return True


def release(context: ForgeContext) -> None:
    """Forget a claim whose state change rolled back: the same FIT may try again."""
    try:
        caches[connect_settings.FORGE_JWKS_CACHE_ALIAS].delete(_key(context))
    except Exception as exc:
        logger.warning("forge jti cache unavailable (%s): claim not released", type(exc).__name__)
