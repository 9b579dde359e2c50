"""Verify the Connect JWT of an incoming Django request.

The adapter between HTTP requests and :mod:`tokens`: it finds the token in
the request, computes the request's qsh, loads the tenant and its secrets,
and returns a :class:`ConnectAuth`. DRF authentication classes, the view
decorator and the lifecycle views are thin layers over these functions.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest

from ..conf import connect_settings
from ..exceptions import ConnectAuthError, SecretDecryptionError
from ..models import AbstractTenant, get_tenant_model
from ..tokens import (
    ParsedToken,
    SecretCandidate,
    VerifiedSecret,
    check_qsh,
    check_times,
    has_unstorable_text,
    parse_token,
    require_algorithm,
    require_claims,
    verify_hs256_with_secrets,
    with_fresh_claims,
)
from . import tenant_cache, verified_tokens
from .identity import ConnectAuth, ConnectUser
from .inbound_request import (
    RequestQsh,
    form_params,
    get_raw_token,
    query_params,
)

__all__ = [
    "ConnectAuth",  # re-exported from identity: a public import path
    "ConnectUser",
    "RequestQsh",
    "check_tenant_state",
    "form_params",
    "get_raw_token",
    "load_tenant",
    "log_refusal",
    "query_params",
    "secret_candidates",
    "unverified_issuer",
    "verify_request",
    "verify_tenant_token",
]

logger = logging.getLogger("django_atlassian_connect")

# -- tenant and secrets ---------------------------------------------------------


def unverified_issuer(parsed: ParsedToken) -> str:
    require_claims(parsed, ("iss",))
    iss = parsed.issuer
    if not isinstance(iss, str) or not iss or len(iss) > 255:
        raise ConnectAuthError(
            "token_malformed", "The token's iss claim must be a clientKey string."
        )
    # The issuer is looked up before the signature is checked: "\u0000" or a lone
    # surrogate would reach the database as text no column takes.
    if has_unstorable_text(iss):
        raise ConnectAuthError(
            "token_malformed",
            "The token's iss contains a NUL character or an unpaired surrogate.",
        )
    return iss


def check_tenant_state(
    tenant: AbstractTenant | None,
    client_key: str,
    *,
    allow_uninstalled: bool = False,
    allow_disabled: bool = False,
) -> AbstractTenant:
    """Refuse unknown, uninstalled and (by default) disabled tenants."""
    if tenant is None:
        raise ConnectAuthError(
            "tenant_unknown",
            f"No installation has the clientKey {client_key!r} (the token's iss).",
            client_key=client_key,
        )
    if not tenant.is_installed and not allow_uninstalled:
        raise ConnectAuthError(
            "tenant_uninstalled",
            f"The installation {client_key!r} was uninstalled"
            + (f" at {tenant.uninstalled_at:%Y-%m-%dT%H:%M:%SZ}" if tenant.uninstalled_at else "")
            + ".",
            client_key=client_key,
        )
    if not tenant.is_enabled and not allow_disabled and connect_settings.REJECT_DISABLED_TENANTS:
        raise ConnectAuthError(
            "tenant_disabled",
            f"The app is disabled on the site of installation {client_key!r}.",
            client_key=client_key,
        )
    return tenant


def load_tenant(
    client_key: str, *, allow_uninstalled: bool = False, allow_disabled: bool = False
) -> AbstractTenant:
    """The tenant from the database, refused when not usable."""
    tenant = get_tenant_model()._default_manager.filter(client_key=client_key).first()
    return check_tenant_state(
        tenant, client_key, allow_uninstalled=allow_uninstalled, allow_disabled=allow_disabled
    )


def _candidates(snapshot: tenant_cache.TenantSnapshot) -> list[SecretCandidate]:
    try:
        return snapshot.candidates()
    except SecretDecryptionError:
        logger.error(
            "cannot decrypt the shared secrets of tenant %s: check ENCRYPTION_KEYS",
            snapshot.tenant.client_key,
        )
        raise


def secret_candidates(tenant: AbstractTenant) -> list[SecretCandidate]:
    """The tenant's secrets still held: the current one first, then newest retired."""
    return _candidates(tenant_cache.TenantSnapshot(tenant, tenant_cache.load_secrets(tenant)))


def verify_tenant_token(
    parsed: ParsedToken,
    tenant: AbstractTenant,
    *,
    now: float | None = None,
    candidates: list[SecretCandidate] | None = None,
) -> VerifiedSecret:
    """Signature (current or in-grace secret) and times of an HS256 token."""
    require_algorithm(parsed, "HS256")
    verified = verify_hs256_with_secrets(
        parsed,
        secret_candidates(tenant) if candidates is None else candidates,
        now=now,
        grace_period=connect_settings.SECRET_GRACE_PERIOD,
    )
    check_times(parsed, now=now, leeway=connect_settings.LEEWAY)
    if verified.within_grace:
        logger.info(
            "accepted a token of %s signed with the retired secret %s (within the "
            "grace period of %s s)",
            tenant.client_key,
            verified.candidate.label,
            connect_settings.SECRET_GRACE_PERIOD,
        )
    return verified


def verify_request(
    request: HttpRequest,
    *,
    context: bool,
    token: tuple[str, str] | None = None,
    now: float | None = None,
    allow_disabled: bool = False,
) -> ConnectAuth:
    """Verify the Connect JWT of ``request``; ``token_missing`` when there is none.

    ``context=True`` accepts context tokens (``qsh: context-qsh``) and nothing
    else; ``context=False`` requires the qsh of this very request.
    """
    if token is None:
        token = get_raw_token(request)
    if token is None:
        raise ConnectAuthError("token_missing", "The request carries no Connect JWT.")
    raw, _source = token
    if context:
        known = _known_context_token(raw, now, allow_disabled)
        if known is not None:
            return known
    parsed = parse_token(raw, max_length=connect_settings.MAX_TOKEN_LENGTH)
    require_algorithm(parsed, "HS256")
    client_key = unverified_issuer(parsed)
    snapshot, cached = tenant_cache.get(client_key)
    verified_against = snapshot
    try:
        tenant, verified = _verify_against(snapshot, parsed, client_key, now, allow_disabled)
    except ConnectAuthError as error:
        if not cached or snapshot is None or error.code not in _STALE_CACHE_CODES:
            raise
        # The cached state may predate a change another process made: ask the
        # database, at most once per tenant per TENANT_CACHE_REVALIDATE seconds.
        fresher = tenant_cache.revalidate(client_key, snapshot)
        if fresher is None:
            raise
        tenant, verified = _verify_against(fresher, parsed, client_key, now, allow_disabled)
        verified_against = fresher
    check_qsh(parsed, context=context, matches=None if context else RequestQsh(request))
    if context and verified_against is not None:
        verified_tokens.remember(
            raw, verified_tokens.VerifiedToken(client_key, verified_against, parsed, verified)
        )
    return ConnectAuth(
        tenant=tenant,
        claims=parsed.claims,
        context_token=context,
        secret_fingerprint=verified.candidate.label,
        signed_with_retired_secret=verified.retired,
    )


def _known_context_token(raw: str, now: float | None, allow_disabled: bool) -> ConnectAuth | None:
    """A context token this process verified against the tenant's current
    snapshot: its times and the tenant's state checked again, not its signature.
    ``None`` when unknown or verified against an older snapshot (verify in full)."""
    known = verified_tokens.lookup(raw)
    if known is None:
        return None
    snapshot, _cached = tenant_cache.get(known.client_key)
    if snapshot is not known.snapshot:
        verified_tokens.forget(raw)
        return None
    parsed = with_fresh_claims(known.parsed)
    check_times(parsed, now=now, leeway=connect_settings.LEEWAY)
    try:
        check_tenant_state(snapshot.tenant, known.client_key, allow_disabled=allow_disabled)
    except ConnectAuthError:
        return None  # the full path refuses it, after asking the database when stale
    return ConnectAuth(
        tenant=snapshot.tenant,
        claims=parsed.claims,
        context_token=True,
        secret_fingerprint=known.verified.candidate.label,
    )


# Refusals that a stale cache entry could cause; acceptance never depends on them.
_STALE_CACHE_CODES = frozenset(
    {"signature_invalid", "secret_retired", "tenant_uninstalled", "tenant_disabled"}
)


def _verify_against(
    snapshot: tenant_cache.TenantSnapshot | None,
    parsed: ParsedToken,
    client_key: str,
    now: float | None,
    allow_disabled: bool,
) -> tuple[AbstractTenant, VerifiedSecret]:
    if snapshot is None:
        check_tenant_state(None, client_key)  # raises tenant_unknown
    assert snapshot is not None
    tenant = snapshot.tenant
    # The signature first, then the state: only a caller holding the tenant's
    # secret learns that it was uninstalled (and when) or disabled.
    verified = verify_tenant_token(parsed, tenant, now=now, candidates=_candidates(snapshot))
    check_tenant_state(tenant, client_key, allow_disabled=allow_disabled)
    return tenant, verified


def log_refusal(request: HttpRequest, error: ConnectAuthError) -> None:
    """One WARNING line per refusal; never a secret or a token."""
    extra = ""
    if error.code == "qsh_mismatch":
        try:
            extra = f" canonical_request={RequestQsh(request).canonical!r}"
        except Exception:  # pragma: no cover - diagnostics must never fail
            extra = ""
    logger.warning(
        "connect request refused: code=%s client_key=%s method=%s path=%s detail=%s hint=%s%s",
        error.code,
        error.client_key or "-",
        request.method,
        request.path,
        error.detail,
        error.hint,
        extra,
        extra={"connect_code": error.code, "client_key": error.client_key},
    )
