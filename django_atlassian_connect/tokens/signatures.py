"""Signatures: RS256 with a public key, HS256 with a tenant's secret history."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from ..exceptions import ConnectAuthError
from .parse import HS256, RS256, ParsedToken, _safe_str, require_algorithm

_RSA_SHA256 = RSAAlgorithm(RSAAlgorithm.SHA256)


def verify_rs256(parsed: ParsedToken, public_key_pem: str | bytes) -> None:
    """Verify an RS256 signature with a PEM public key."""
    require_algorithm(parsed, RS256)
    try:
        key = _RSA_SHA256.prepare_key(public_key_pem)
        if not isinstance(key, RSAPublicKey):
            raise TypeError("a private key is not an install public key")
        valid = _RSA_SHA256.verify(parsed.signing_input, key, parsed.signature)
    except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ConnectAuthError(
            "key_invalid", "The install public key is not a usable RSA key."
        ) from exc
    if not valid:
        raise ConnectAuthError(
            "signature_invalid",
            "The install token's RS256 signature does not verify with the "
            "Atlassian key named by its kid.",
            client_key=_safe_str(parsed.issuer),
        )


@dataclass(frozen=True)
class SecretCandidate:
    """One shared secret a tenant has had.

    ``retired_at`` is ``None`` for the current secret. ``label`` names it in
    messages (a fingerprint, never the secret).
    """

    secret: str = field(repr=False)
    label: str
    retired_at: float | None = None


@dataclass(frozen=True)
class VerifiedSecret:
    candidate: SecretCandidate
    within_grace: bool

    @property
    def retired(self) -> bool:
        return self.candidate.retired_at is not None


def rs256_signature_valid(parsed: ParsedToken, public_key: RSAPublicKey) -> bool:
    """Whether the RS256 signature verifies with ``public_key`` (no error raised)."""
    return bool(_RSA_SHA256.verify(parsed.signing_input, public_key, parsed.signature))


# An HMAC keyed once per secret: each token then costs a copy and one pass over
# its bytes, not a key schedule and a digest lookup in OpenSSL's provider store.
@functools.lru_cache(maxsize=256)
def _keyed_hmac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)


def hs256_signature_valid(parsed: ParsedToken, secret: str) -> bool:
    mac = _keyed_hmac(secret).copy()
    mac.update(parsed.signing_input)
    return hmac.compare_digest(mac.digest(), parsed.signature)


def verify_hs256_with_secrets(
    parsed: ParsedToken,
    candidates: Iterable[SecretCandidate],
    *,
    now: float | None = None,
    grace_period: float = 900,
) -> VerifiedSecret:
    """Find which of a tenant's secrets signed ``parsed``.

    The current secret is accepted; a retired one only if it was retired less
    than ``grace_period`` seconds ago. A token that verifies only with an
    older retired secret gets ``secret_retired``, naming when that secret was
    retired: the "shared secret out of sync" case.
    """
    require_algorithm(parsed, HS256)
    for candidate in candidates:
        if not hs256_signature_valid(parsed, candidate.secret):
            continue
        if candidate.retired_at is None:
            return VerifiedSecret(candidate, within_grace=False)
        now = time.time() if now is None else now
        if now - candidate.retired_at <= grace_period:
            return VerifiedSecret(candidate, within_grace=True)
        retired = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(candidate.retired_at))
        raise ConnectAuthError(
            "secret_retired",
            f"The token was signed with the shared secret {candidate.label}, "
            f"retired at {retired} when a later 'installed' callback rotated it "
            f"(grace period {grace_period:g} s).",
            client_key=_safe_str(parsed.issuer),
            secret=candidate.label,
            retired_at=candidate.retired_at,
        )
    raise ConnectAuthError(
        "signature_invalid",
        "The token's HS256 signature does not verify with this installation's shared secret.",
        client_key=_safe_str(parsed.issuer),
    )
