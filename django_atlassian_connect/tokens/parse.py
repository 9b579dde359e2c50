"""Split and decode a compact JWS without trusting it.

Strict base64url (one spelling per byte string), JSON-object header and
claims, and the two checks that need nothing but the token: the algorithm
the endpoint fixes, and the claims it requires.
"""

from __future__ import annotations

import binascii
import dataclasses
import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConnectAuthError

HS256 = "HS256"
RS256 = "RS256"


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
    # base64.urlsafe_b64decode() without its layers: the alphabet is checked above.
    return binascii.a2b_base64(
        segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[remainder]
    )


_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_B64_VALUE = {
    char: value
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# Bits of the last character that decode to nothing: 2 chars carry 1 byte
# (4 spare bits), 3 chars carry 2 bytes (2 spare bits).
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = {0: b"", 2: b"==", 3: b"="}


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        if raw[:1] == b"{" and raw[1:2] != b"\x00":
            # What json.loads(bytes) does when it detects UTF-8 (a "{" then no NUL:
            # no BOM, not UTF-16/32), without the detection.
            value = json.loads(raw.decode("utf-8", "surrogatepass"))
        else:
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


def with_fresh_claims(parsed: ParsedToken) -> ParsedToken:
    """``parsed`` with its claims decoded again from the signed bytes.

    The claims exactly as signed, whatever a caller did to ``parsed.claims``
    since; a new dict (nested ones too) that the caller may edit.
    """
    segment = parsed.signing_input.split(b".", 1)[1].decode("ascii")
    return dataclasses.replace(parsed, claims=_json_object(_b64decode(segment), "claims"))


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
