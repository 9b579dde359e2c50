"""The platform's FIT signing keys and the key set it publishes.

Atlassian rotates the ``kid`` (spec §3.1, §3.5): :meth:`KeyRing.rotate` adds
a new current key and keeps or drops the old one, so tests can prove that a
verifier follows rotations instead of pinning a kid.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..keyserver import InstallKeyPair

KID_PREFIX = "forge/invocation-token/"


def _new_kid() -> str:
    return f"{KID_PREFIX}wf-{uuid.uuid4()}"


def _b64uint(value: int) -> str:
    """RFC 7518 §6.3.1: big-endian bytes, minimal length, base64url without padding."""
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class ForgeSigningKey(InstallKeyPair):
    """An RSA key with a Forge-style kid (``forge/invocation-token/wf-<uuid>``).

    ``ForgeSigningKey(kid=known_kid)`` is a *forged* key: a known kid with a
    private key the JWKS does not publish.
    """

    kid: str = field(default_factory=_new_kid)

    def jwk(self) -> dict[str, Any]:
        """The public half as an RFC 7517 JWK, as Forge publishes it."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": _b64uint(numbers.n),
            "e": _b64uint(numbers.e),
        }


class KeyRing:
    """The published keys; the last one added is the one FITs are signed with."""

    def __init__(self, *keys: ForgeSigningKey) -> None:
        self.keys: list[ForgeSigningKey] = list(keys) or [ForgeSigningKey()]

    @property
    def current(self) -> ForgeSigningKey:
        return self.keys[-1]

    def rotate(
        self, *, keep_old: bool = True, new: ForgeSigningKey | None = None
    ) -> ForgeSigningKey:
        """Make a new key current; ``keep_old=False`` stops publishing the previous ones."""
        key = new or ForgeSigningKey()
        self.keys = [*self.keys, key] if keep_old else [key]
        return key

    def remove(self, kid: str) -> None:
        self.keys = [key for key in self.keys if key.kid != kid]

    def get(self, kid: str) -> ForgeSigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}
