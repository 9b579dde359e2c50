"""Encryption at rest: crypto.py, the encrypted field and key rotation."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import uuid

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from django_atlassian_connect import crypto
from django_atlassian_connect.exceptions import SecretDecryptionError
from django_atlassian_connect.fields import EncryptedTextField, Secret
from django_atlassian_connect.models import SharedSecret, Tenant

PLAINTEXT = "ATCOsecret-" + "f" * 64


def use_keys(settings, keys):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "ENCRYPTION_KEYS": keys}


def make_tenant() -> Tenant:
    return Tenant.objects.create(
        client_key=f"jira:{uuid.uuid4()}",
        app_key="com.example.tests",
        base_url="https://acme.atlassian.net",
    )


def raw_secret_column(pk: int) -> str:
    table = connection.ops.quote_name(SharedSecret._meta.db_table)
    column = connection.ops.quote_name(SharedSecret._meta.get_field("secret").column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        (value,) = cursor.fetchone()
    return value


def fresh(obj: SharedSecret) -> SharedSecret:
    return SharedSecret.objects.get(pk=obj.pk)


# -- crypto.py -------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [PLAINTEXT, "", "ünïcødé ✓ 🔑", "x" * 512])
def test_encrypt_decrypt_round_trip(plaintext):
    ciphertext = crypto.encrypt(plaintext)
    assert ciphertext.isascii()
    assert crypto.decrypt(ciphertext) == plaintext
    if plaintext:
        assert plaintext not in ciphertext


def test_encryption_is_randomised():
    assert crypto.encrypt(PLAINTEXT) != crypto.encrypt(PLAINTEXT)


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAAB" + "A" * 60, "ünïcødé"])
def test_decrypt_garbage_is_a_decryption_error(garbage):
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(garbage)


def test_missing_key_message_says_what_to_do(settings):
    key_a = Fernet.generate_key().decode()
    use_keys(settings, [key_a])
    ciphertext = crypto.encrypt(PLAINTEXT)
    use_keys(settings, [Fernet.generate_key().decode()])
    with pytest.raises(SecretDecryptionError) as excinfo:
        crypto.decrypt(ciphertext)
    message = str(excinfo.value)
    assert "ENCRYPTION_KEYS" in message
    assert "connect_reencrypt" in message
    assert PLAINTEXT not in message and key_a not in message
    with pytest.raises(SecretDecryptionError) as excinfo:
        crypto.reencrypt(ciphertext)
    assert "old key" in str(excinfo.value)


def test_reencrypt_of_non_ascii_garbage_is_a_decryption_error():
    with pytest.raises(SecretDecryptionError):
        crypto.reencrypt("ünïcødé")


def test_fernet_keys_are_used_as_is(settings):
    key = Fernet.generate_key().decode()
    assert crypto._to_fernet_key(key) == key.encode()
    use_keys(settings, [key])
    ciphertext = crypto.encrypt(PLAINTEXT)
    # An operator can decrypt with the raw key and plain cryptography.
    assert Fernet(key.encode()).decrypt(ciphertext.encode()).decode() == PLAINTEXT


def test_passphrases_are_derived(settings):
    derived = crypto._to_fernet_key("correct horse battery staple")
    assert derived != b"correct horse battery staple"
    assert len(base64.urlsafe_b64decode(derived)) == 32
    assert derived == base64.urlsafe_b64encode(
        hashlib.sha256(crypto._DERIVATION_SALT + b"correct horse battery staple").digest()
    )
    Fernet(derived)  # a valid Fernet key
    use_keys(settings, ["correct horse battery staple"])
    ciphertext = crypto.encrypt(PLAINTEXT)
    assert Fernet(derived).decrypt(ciphertext.encode()).decode() == PLAINTEXT
    use_keys(settings, ["another passphrase"])
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(ciphertext)


def test_first_key_encrypts_all_keys_decrypt(settings):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(settings, [key_a])
    old = crypto.encrypt(PLAINTEXT)
    use_keys(settings, [key_b, key_a])
    assert crypto.decrypt(old) == PLAINTEXT
    new = crypto.encrypt(PLAINTEXT)
    assert Fernet(key_b.encode()).decrypt(new.encode()).decode() == PLAINTEXT
    with pytest.raises(InvalidToken):
        Fernet(key_a.encode()).decrypt(new.encode())
    rotated = crypto.reencrypt(old)
    use_keys(settings, [key_b])
    assert crypto.decrypt(rotated) == PLAINTEXT


def test_default_keys_derive_from_secret_key(settings):
    use_keys(settings, None)
    settings.SECRET_KEY = "first-secret-key"
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.configured_key_material() == ("first-secret-key",)
    ciphertext = crypto.encrypt(PLAINTEXT)
    # The same derivation as an explicit passphrase equal to SECRET_KEY.
    use_keys(settings, ["first-secret-key"])
    assert crypto.decrypt(ciphertext) == PLAINTEXT
    # After rotating SECRET_KEY, SECRET_KEY_FALLBACKS still decrypts.
    use_keys(settings, None)
    settings.SECRET_KEY = "second-secret-key"
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(ciphertext)
    settings.SECRET_KEY_FALLBACKS = ["first-secret-key"]
    assert crypto.configured_key_material() == ("second-secret-key", "first-secret-key")
    assert crypto.decrypt(ciphertext) == PLAINTEXT
    assert (
        Fernet(crypto._to_fernet_key("second-secret-key")).decrypt(crypto.encrypt("x").encode())
        == b"x"
    )


@pytest.mark.parametrize("keys", ["a-string", [], (), [123], ["ok", ""], [None], {"a": 1}])
def test_unusable_encryption_keys(settings, keys):
    use_keys(settings, keys)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        crypto.encrypt(PLAINTEXT)
    assert "ENCRYPTION_KEYS" in str(excinfo.value)


def test_fingerprint_format():
    value = crypto.fingerprint(PLAINTEXT)
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", value)
    assert value == "sha256:" + hashlib.sha256(PLAINTEXT.encode()).hexdigest()[:12]
    assert crypto.fingerprint("ü") == "sha256:" + hashlib.sha256("ü".encode()).hexdigest()[:12]
    assert crypto.fingerprint("a") != crypto.fingerprint("b")
    assert PLAINTEXT not in value


# -- the field -------------------------------------------------------------------


def test_secret_repr_hides_the_value():
    secret = Secret(PLAINTEXT)
    assert secret == PLAINTEXT
    assert isinstance(secret, str)
    assert PLAINTEXT not in repr(secret)
    assert PLAINTEXT not in repr([secret])
    assert PLAINTEXT not in repr({"secret": secret})
    assert "*" in repr(secret)


def test_field_conversions():
    field = EncryptedTextField()
    assert field.get_prep_value(None) is None
    assert field.from_db_value(None, None, connection) is None
    assert field.to_python(None) is None
    assert isinstance(field.to_python("x"), Secret)
    stored = field.get_prep_value(PLAINTEXT)
    assert stored != PLAINTEXT and crypto.decrypt(stored) == PLAINTEXT
    loaded = field.from_db_value(stored, None, connection)
    assert isinstance(loaded, Secret) and loaded == PLAINTEXT


@pytest.mark.django_db
def test_database_column_holds_no_plaintext():
    tenant = make_tenant()
    row = SharedSecret.for_secret(tenant, PLAINTEXT)
    row.save()
    raw = raw_secret_column(row.pk)
    assert raw and PLAINTEXT not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert crypto.decrypt(raw) == PLAINTEXT
    assert row.fingerprint == crypto.fingerprint(PLAINTEXT)
    loaded = fresh(row)
    assert loaded.secret == PLAINTEXT
    assert isinstance(loaded.secret, Secret)
    assert PLAINTEXT not in repr(loaded.secret)
    # Saving again re-encrypts; still no plaintext.
    loaded.save()
    assert PLAINTEXT not in raw_secret_column(row.pk)


@pytest.mark.django_db
def test_null_secret_round_trips():
    row = SharedSecret.objects.create(
        tenant=make_tenant(), secret=None, fingerprint="sha256:000000000000"
    )
    assert raw_secret_column(row.pk) is None
    assert fresh(row).secret is None


# -- rotation with manage.py connect_reencrypt --------------------------------------


@pytest.mark.django_db
def test_rotation_with_connect_reencrypt(settings):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(settings, [key_a])
    row = SharedSecret.for_secret(make_tenant(), PLAINTEXT)
    row.save()
    encrypted_with_a = raw_secret_column(row.pk)

    # The new key first, the old one still listed: reads keep working.
    use_keys(settings, [key_b, key_a])
    assert fresh(row).secret == PLAINTEXT

    # Without the old key, reading fails with instructions.
    use_keys(settings, [key_b])
    with pytest.raises(SecretDecryptionError) as excinfo:
        fresh(row)
    assert "connect_reencrypt" in str(excinfo.value)

    # A dry run checks but writes nothing.
    use_keys(settings, [key_b, key_a])
    out = io.StringIO()
    call_command("connect_reencrypt", "--dry-run", stdout=out)
    assert "1 value(s) decrypt" in out.getvalue()
    assert raw_secret_column(row.pk) == encrypted_with_a

    out = io.StringIO()
    call_command("connect_reencrypt", stdout=out)
    assert "1 value(s) re-encrypted" in out.getvalue()
    assert PLAINTEXT not in out.getvalue()
    rotated = raw_secret_column(row.pk)
    assert rotated != encrypted_with_a and PLAINTEXT not in rotated

    # Now the new key alone is enough, and the old one alone is not.
    use_keys(settings, [key_b])
    assert fresh(row).secret == PLAINTEXT
    use_keys(settings, [key_a])
    with pytest.raises(SecretDecryptionError):
        fresh(row)


@pytest.mark.django_db
def test_connect_reencrypt_without_the_old_key_fails_clearly(settings):
    use_keys(settings, [Fernet.generate_key().decode()])
    row = SharedSecret.for_secret(make_tenant(), PLAINTEXT)
    row.save()
    before = raw_secret_column(row.pk)
    use_keys(settings, [Fernet.generate_key().decode()])
    with pytest.raises(CommandError) as excinfo:
        call_command("connect_reencrypt", stdout=io.StringIO())
    assert "old key" in str(excinfo.value)
    assert raw_secret_column(row.pk) == before


@pytest.mark.django_db
def test_connect_reencrypt_skips_null_values():
    SharedSecret.objects.create(
        tenant=make_tenant(), secret=None, fingerprint="sha256:000000000000"
    )
    out = io.StringIO()
    call_command("connect_reencrypt", stdout=out)
    assert "0 value(s)" in out.getvalue()
