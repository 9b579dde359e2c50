"""The tenant's current shared secret, as outbound calls sign with it.

Used by :mod:`~django_atlassian_connect.client` (app JWTs) and
:mod:`~django_atlassian_connect.oauth` (the impersonation assertion); it sits
below both so that neither imports the other. Depends on the warm path
(:mod:`~django_atlassian_connect.tenant_cache`) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..exceptions import ConnectClientError
from ..models import AbstractTenant
from . import tenant_cache

__all__ = ["SigningSecret", "current_secret"]


@dataclass(frozen=True)
class SigningSecret:
    """The tenant's current shared secret, as used for signing (``repr`` hides it)."""

    value: str = field(repr=False)
    fingerprint: str
    current_since: float


def current_secret(tenant: AbstractTenant) -> SigningSecret:
    """The secret that signs outbound calls (from the warm-path cache).

    Raises :class:`~django_atlassian_connect.exceptions.ConnectClientError`
    ``secret_missing`` when the installation has none.
    """
    snapshot, _ = tenant_cache.get(tenant.client_key)
    entry = snapshot.current if snapshot else None
    if entry is None:
        raise ConnectClientError(
            "secret_missing",
            f"The installation {tenant.client_key} has no current shared secret.",
            tenant=tenant,
        )
    return SigningSecret(tenant_cache.decrypt(entry), entry.fingerprint, entry.became_current_at)
