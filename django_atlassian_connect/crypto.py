"""Encryption at rest for shared secrets and access tokens.

``ATLASSIAN_CONNECT["ENCRYPTION_KEYS"]`` is a list of Fernet keys or
passphrases; the first encrypts, all decrypt (key rotation with
``manage.py connect_reencrypt``). Left unset, one key is derived from
``SECRET_KEY`` (and one from each of ``SECRET_KEY_FALLBACKS``, to decrypt).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import connect_settings
from .exceptions import SecretDecryptionError

_DERIVATION_SALT = b"django-atlassian-connect:encryption:v1:"


def _to_fernet_key(material: str) -> bytes:
    """A Fernet key as given, or one derived from a passphrase."""
    raw = material.encode("utf-8")
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(_DERIVATION_SALT + raw).digest())


def configured_key_material() -> tuple[str, ...]:
    """The configured keys, first one encrypting."""
    keys = connect_settings.ENCRYPTION_KEYS
    if keys is None:
        secret_key = settings.SECRET_KEY
        if not secret_key:
            raise ImproperlyConfigured(
                "Encrypting shared secrets needs SECRET_KEY or "
                'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"].'
            )
        fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", []) or []
        return tuple(str(k) for k in (secret_key, *fallbacks))
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)) or not keys:
        raise ImproperlyConfigured(
            'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"] must be a non-empty list of '
            "Fernet keys or passphrases (the first one encrypts)."
        )
    if not all(isinstance(k, str) and k for k in keys):
        raise ImproperlyConfigured(
            'Every item of ATLASSIAN_CONNECT["ENCRYPTION_KEYS"] must be a non-empty string.'
        )
    return tuple(keys)


@lru_cache(maxsize=8)
def _multi_fernet(material: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_to_fernet_key(m)) for m in material])


def fernet() -> MultiFernet:
    return _multi_fernet(configured_key_material())


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
