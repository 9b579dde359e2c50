"""Encryption at rest for shared secrets and access tokens.

``ATLASSIAN_CONNECT["ENCRYPTION_KEYS"]`` is a list of Fernet keys or
passphrases; the first encrypts, all decrypt (key rotation with
``manage.py connect_reencrypt``). Left unset, one key is derived from
``SECRET_KEY`` (and one from each of ``SECRET_KEY_FALLBACKS``, to decrypt).

Which text is a Fernet key is decided by ``Fernet`` itself: a configured
key is used as it is only when ``Fernet`` accepts it, anything else is a
passphrase and derived. ``SECRET_KEY`` material is always derived, whatever
it looks like. Earlier releases decided with a lenient base64 decode that
drops characters outside the alphabet, so some passphrases (about one
``django-insecure-`` key in fifty) were taken for keys: the key those
releases used is kept as a decrypt-only key, so nothing they stored becomes
unreadable, and ``connect_reencrypt`` moves such values to the current key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import SETTING_NAME, connect_settings
from .exceptions import SecretDecryptionError

_DERIVATION_SALT = b"django-atlassian-connect:encryption:v1:"


@dataclass(frozen=True)
class KeySource:
    """One configured key: where it came from and whether it may be used as given."""

    origin: str  # e.g. 'SECRET_KEY' or 'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"][0]'
    material: str
    from_secret_key: bool

    def __repr__(self) -> str:  # the material is a secret
        return f"KeySource({self.origin})"


def _derive(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(_DERIVATION_SALT + raw).digest())


def _is_fernet_key(raw: bytes) -> bool:
    try:
        Fernet(raw)
    except (ValueError, TypeError):
        return False
    return True


def _to_fernet_key(material: str, *, from_secret_key: bool = False) -> bytes:
    """The key that encrypts: the text itself when ``Fernet`` accepts it, else derived."""
    raw = material.encode("utf-8")
    if not from_secret_key and _is_fernet_key(raw):
        return raw
    return _derive(raw)


def _legacy_fernet_key(material: str) -> bytes | None:
    """The key earlier versions took this text for (a lenient decode gave 32 bytes), else None."""
    try:
        decoded = base64.urlsafe_b64decode(material.encode("utf-8"))
    except (ValueError, binascii.Error):
        return None
    return base64.urlsafe_b64encode(decoded) if len(decoded) == 32 else None


def key_sources() -> tuple[KeySource, ...]:
    """The configured keys with their origin, the first one encrypting."""
    keys = connect_settings.ENCRYPTION_KEYS
    if keys is None:
        secret_key = settings.SECRET_KEY
        if not secret_key:
            raise ImproperlyConfigured(
                f'Encrypting shared secrets needs SECRET_KEY or {SETTING_NAME}["ENCRYPTION_KEYS"].'
            )
        fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", []) or []
        return (
            KeySource("SECRET_KEY", str(secret_key), True),
            *(
                KeySource(f"SECRET_KEY_FALLBACKS[{i}]", str(k), True)
                for i, k in enumerate(fallbacks)
                if k
            ),
        )
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)) or not keys:
        raise ImproperlyConfigured(
            f'{SETTING_NAME}["ENCRYPTION_KEYS"] must be a non-empty list of '
            "Fernet keys or passphrases (the first one encrypts)."
        )
    if not all(isinstance(k, str) and k for k in keys):
        raise ImproperlyConfigured(
            f'Every item of {SETTING_NAME}["ENCRYPTION_KEYS"] must be a non-empty string.'
        )
    return tuple(
        KeySource(f'{SETTING_NAME}["ENCRYPTION_KEYS"][{i}]', k, False) for i, k in enumerate(keys)
    )


def key_origin() -> str:
    """Where the encryption keys come from, for error messages and checks."""
    if connect_settings.ENCRYPTION_KEYS is None:
        return (
            f'derived from SECRET_KEY and SECRET_KEY_FALLBACKS ({SETTING_NAME}["ENCRYPTION_KEYS"] '
            "is not set)"
        )
    return f'{SETTING_NAME}["ENCRYPTION_KEYS"]'


def configured_key_material() -> tuple[str, ...]:
    """The configured keys, first one encrypting."""
    return tuple(source.material for source in key_sources())


@lru_cache(maxsize=8)
def _multi_fernet(sources: tuple[KeySource, ...]) -> MultiFernet:
    keys = [_to_fernet_key(s.material, from_secret_key=s.from_secret_key) for s in sources]
    # Decrypt-only keys go last: a value stored by an earlier release still decrypts.
    for source in sources:
        legacy = _legacy_fernet_key(source.material)
        if legacy is not None and legacy not in keys:
            keys.append(legacy)
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _multi_fernet(key_sources())


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise SecretDecryptionError(
            "A stored secret could not be decrypted with any of the configured "
            "encryption keys: the key it was encrypted with is no longer "
            'listed. Put it back into ATLASSIAN_CONNECT["ENCRYPTION_KEYS"] (or '
            "SECRET_KEY_FALLBACKS), then run 'manage.py connect_reencrypt'."
        ) from exc


def reencrypt(ciphertext: str) -> str:
    """Re-encrypt under the first key (decrypting with any configured key)."""
    try:
        return fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptionError(
            "A stored secret could not be decrypted with any configured key; "
            "add the old key to the list before re-encrypting."
        ) from exc


def fingerprint(secret: str) -> str:
    """A short, non-reversible name for a secret, safe for logs.

    The first 12 hex digits of its SHA-256, so an operator can compare with
    ``printf %s "$SECRET" | sha256sum``.
    """
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]
