"""Connect JWTs: parse, verify and mint.

Nothing here touches models or HTTP. Each check is a small function raising
:class:`~django_atlassian_connect.exceptions.ConnectAuthError` with a stable
code, so callers (authentication classes, lifecycle views, diagnostics) can
compose them in the order the protocol requires. The clock is injectable:
every time check takes ``now`` (seconds since the epoch).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from .exceptions import ConnectAuthError
from .qsh import CONTEXT_QSH

__all__ = [
    "ParsedToken",
    "SecretCandidate",
    "VerifiedSecret",
    "check_audience",
    "check_qsh",
    "check_times",
    "encode_app_token",
    "encode_hs256",
    "parse_token",
    "require_claims",
    "verify_hs256_with_secrets",
    "verify_rs256",
]

HS256 = "HS256"
RS256 = "RS256"
_RSA_SHA256 = RSAAlgorithm(RSAAlgorithm.SHA256)


@dataclass(frozen=True)
class ParsedToken:
    """A token split and decoded, not yet trusted."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def alg(self) -> Any:
        return self.header.get("alg")

    @property
    def issuer(self) -> Any:
        return self.claims.get("iss")


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding: one encoding per byte string.

    The last character of a segment whose length is 2 or 3 modulo 4 carries
    bits that decode to nothing; a decoder that ignores them accepts several
    spellings of one signature (malleability). Those bits must be zero.
    """
    remainder = len(segment) % 4
    if remainder == 1 or not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    if remainder and _B64_VALUE[segment[-1]] & _UNUSED_BITS[remainder]:
        raise ValueError("non-canonical base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-remainder % 4))


_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_B64_VALUE = {
    char: value
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# Bits of the last character that decode to nothing: 2 chars carry 1 byte
# (4 spare bits), 3 chars carry 2 bytes (2 spare bits).
_UNUSED_BITS = {2: 0b1111, 3: 0b11}


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConnectAuthError("token_malformed", f"The token {what} is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise ConnectAuthError("token_malformed", f"The token {what} is not a JSON object.")
    return value


def has_unstorable_text(value: Any) -> bool:
    """Whether a decoded JSON value holds a string (key or value) with a NUL
    character or an unpaired surrogate: text that is not valid UTF-8 or that
    PostgreSQL refuses. Iterative, so deep nesting costs no recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# A product signs every token with one of a few headers ({"alg":"HS256","typ":"JWT"}):
# decoding each once saves a base64 and a JSON decode per request. An LRU, so
# junk headers sent first cannot keep the real one out; errors are not cached.
@functools.lru_cache(maxsize=64)
def _decode_header(segment: str) -> dict[str, Any]:
    return _json_object(_b64decode(segment), "header")


def parse_token(token: str, *, max_length: int = 16384) -> ParsedToken:
    """Split and decode ``token`` without verifying anything.

    Raises ``token_malformed`` for anything that is not a compact JWS with
    JSON-object header and claims.
    """
    if len(token) > max_length:
        raise ConnectAuthError(
            "token_malformed",
            f"The token is {len(token)} characters long; at most {max_length} are accepted.",
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise ConnectAuthError(
            "token_malformed",
            f"A JWT has three dot-separated parts; this token has {len(parts)}.",
        )
    try:
        header = _decode_header(parts[0])
        claims_raw = _b64decode(parts[1])
        signature = _b64decode(parts[2]) if parts[2] else b""
    except (ValueError, binascii.Error) as exc:
        raise ConnectAuthError(
            "token_malformed", "The token parts are not valid base64url."
        ) from exc
    return ParsedToken(
        header=dict(header),
        claims=_json_object(claims_raw, "claims"),
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
    )


def require_algorithm(parsed: ParsedToken, expected: str) -> None:
    """The endpoint fixes the algorithm; the token's header only has to agree."""
    if parsed.alg != expected:
        raise ConnectAuthError(
            "alg_not_allowed",
            f"The token's algorithm is {parsed.alg!r}; this endpoint accepts {expected} only.",
        )


def require_claims(parsed: ParsedToken, names: Iterable[str]) -> None:
    missing = [name for name in names if name not in parsed.claims]
    if missing:
        raise ConnectAuthError(
            "claim_missing",
            f"The token lacks the claim(s) {', '.join(missing)}.",
            client_key=_safe_str(parsed.issuer),
        )


def _safe_str(value: Any) -> str | None:
    return value[:255] if isinstance(value, str) else None


def _number(parsed: ParsedToken, name: str) -> float:
    value = parsed.claims.get(name)
    number = None
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            number = None
    # NaN and +-Infinity (which json.loads accepts) would defeat the comparisons.
    if number is None or not math.isfinite(number):
        raise ConnectAuthError(
            "token_malformed",
            f"The {name} claim must be a number of seconds, not {value!r:.40}.",
            client_key=_safe_str(parsed.issuer),
        )
    return number


def check_times(parsed: ParsedToken, *, now: float | None = None, leeway: float = 30) -> None:
    """``exp`` and ``iat`` are required; ``nbf`` is checked when present."""
    require_claims(parsed, ("iat", "exp"))
    now = time.time() if now is None else now
    exp = _number(parsed, "exp")
    iat = _number(parsed, "iat")
    client_key = _safe_str(parsed.issuer)
    if now > exp + leeway:
        raise ConnectAuthError(
            "token_expired",
            f"The token expired {int(now - exp)} s ago (exp {int(exp)}, "
            f"now {int(now)}, leeway {leeway:g} s).",
            client_key=client_key,
            skew=now - exp,
        )
    if iat > now + leeway:
        raise ConnectAuthError(
            "token_not_yet_valid",
            f"The token was issued {int(iat - now)} s in the future (iat "
            f"{int(iat)}, now {int(now)}, leeway {leeway:g} s).",
            client_key=client_key,
            skew=iat - now,
        )
    if "nbf" in parsed.claims:
        nbf = _number(parsed, "nbf")
        if nbf > now + leeway:
            raise ConnectAuthError(
                "token_not_yet_valid",
                f"The token is not valid before {int(nbf)} (now {int(now)}, leeway {leeway:g} s).",
                client_key=client_key,
                skew=nbf - now,
            )


def check_qsh(
    parsed: ParsedToken,
    *,
    context: bool,
    matches: Callable[[str], bool] | None = None,
) -> None:
    """The qsh rule of the endpoint.

    ``context=True``: the endpoint takes context tokens and nothing else.
    ``context=False``: the qsh must be the hash of this request, for which
    ``matches(qsh)`` answers; a ``context-qsh`` token is refused.
    """
    qsh = parsed.claims.get("qsh")
    client_key = _safe_str(parsed.issuer)
    if qsh is None or qsh == "":
        raise ConnectAuthError("qsh_missing", "The token has no qsh claim.", client_key=client_key)
    if context:
        if qsh != CONTEXT_QSH:
            raise ConnectAuthError(
                "context_qsh_required",
                "This endpoint accepts context tokens (qsh 'context-qsh') only; "
                "this token is bound to one request URL.",
                client_key=client_key,
            )
        return
    if qsh == CONTEXT_QSH:
        raise ConnectAuthError(
            "context_qsh_not_allowed",
            "A context token (qsh 'context-qsh') was sent to an endpoint that "
            "requires the request's own qsh.",
            client_key=client_key,
        )
    if not isinstance(qsh, str) or matches is None or not matches(qsh):
        raise ConnectAuthError(
            "qsh_mismatch",
            "The token's qsh does not match this request's method, path and query.",
            client_key=client_key,
        )


def check_audience(parsed: ParsedToken, allowed: Collection[str]) -> None:
    """``aud`` (a string, or the first item of a list) is one of ``allowed``.

    A trailing ``/`` is ignored on both sides.
    """
    aud = parsed.claims.get("aud")
    if isinstance(aud, list):
        aud = aud[0] if aud else None
    wanted = {url.rstrip("/") for url in allowed}
    if not isinstance(aud, str) or aud.rstrip("/") not in wanted:
        raise ConnectAuthError(
            "audience_invalid",
            f"The token's aud {aud!r:.200} is not this app's base URL "
            f"({', '.join(sorted(wanted))}).",
            client_key=_safe_str(parsed.issuer),
        )


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


def hs256_signature_valid(parsed: ParsedToken, secret: str) -> bool:
    expected = hmac.digest(secret.encode("utf-8"), parsed.signing_input, "sha256")
    return hmac.compare_digest(expected, parsed.signature)


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
    now = time.time() if now is None else now
    client_key = _safe_str(parsed.issuer)
    for candidate in candidates:
        if not hs256_signature_valid(parsed, candidate.secret):
            continue
        if candidate.retired_at is None:
            return VerifiedSecret(candidate, within_grace=False)
        if now - candidate.retired_at <= grace_period:
            return VerifiedSecret(candidate, within_grace=True)
        retired = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(candidate.retired_at))
        raise ConnectAuthError(
            "secret_retired",
            f"The token was signed with the shared secret {candidate.label}, "
            f"retired at {retired} when a later 'installed' callback rotated it "
            f"(grace period {grace_period:g} s).",
            client_key=client_key,
            secret=candidate.label,
            retired_at=candidate.retired_at,
        )
    raise ConnectAuthError(
        "signature_invalid",
        "The token's HS256 signature does not verify with this installation's shared secret.",
        client_key=client_key,
    )


def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """Sign ``claims`` with HS256 (header ``{"alg": "HS256", "typ": "JWT"}``)."""
    return jwt.encode(dict(claims), secret, algorithm=HS256)


def encode_app_token(
    *,
    app_key: str,
    secret: str,
    qsh: str,
    now: float | None = None,
    lifetime: int = 180,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A token for calling the product as the app: ``iss`` is the *app key*."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": app_key, "iat": issued, "exp": issued + lifetime, "qsh": qsh}
    if extra_claims:
        claims.update(extra_claims)
    return encode_hs256(claims, secret)
