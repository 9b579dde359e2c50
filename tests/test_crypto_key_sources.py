"""Which text is a Fernet key, over many generated keys (not one).

An earlier version decided with a lenient base64 decode, so about one
``django-insecure-`` SECRET_KEY in fifty was taken for a Fernet key that
``Fernet`` then refused: ``check``, ``migrate`` and every command failed.
"""

from __future__ import annotations

import base64
import io
import random

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from django_atlassian_connect import checks, crypto
from django_atlassian_connect.models import SharedSecret
from tests.test_crypto import PLAINTEXT, make_tenant, raw_secret_column, use_keys

# What Django's get_random_secret_key() draws from, and startproject's prefix.
SECRET_KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"
INSECURE_PREFIX = "django-insecure-"


def generated_secret_keys(count: int, *, prefix: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [prefix + "".join(rng.choices(SECRET_KEY_CHARS, k=50)) for _ in range(count)]


def lenient_key(text: str) -> bytes | None:
    """The key the earlier version (and a lenient Fernet) took this text for."""
    try:
        decoded = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        return None
    return base64.urlsafe_b64encode(decoded) if len(decoded) == 32 else None


INSECURE_KEYS = generated_secret_keys(3000, prefix=INSECURE_PREFIX, seed=19)
PLAIN_KEYS = generated_secret_keys(3000, prefix="", seed=20)
# The keys the earlier version broke on: a lenient decode gives 32 bytes, Fernet refuses them.
MISREAD_KEYS = [k for k in INSECURE_KEYS + PLAIN_KEYS if lenient_key(k) is not None]


def use_secret_key(settings, secret_key: str, *fallbacks: str) -> None:
    use_keys(settings, None)
    settings.SECRET_KEY = secret_key
    settings.SECRET_KEY_FALLBACKS = list(fallbacks)


def test_the_sample_holds_keys_that_a_lenient_decode_misreads():
    # Without such keys the tests below would prove nothing (about 2 % of insecure keys).
    misread_insecure = [k for k in MISREAD_KEYS if k.startswith(INSECURE_PREFIX)]
    assert len(misread_insecure) > 20
    for key in MISREAD_KEYS:
        with pytest.raises(ValueError):
            Fernet(key.encode())


@pytest.mark.parametrize("keys", [INSECURE_KEYS, PLAIN_KEYS], ids=["insecure", "plain"])
def test_every_generated_secret_key_encrypts_and_decrypts(settings, keys):
    failures = []
    for key in keys:
        use_secret_key(settings, key)
        try:
            if crypto.decrypt(crypto.encrypt(PLAINTEXT)) != PLAINTEXT:
                failures.append(key)
        except ValueError:
            failures.append(key)
    assert failures == []


def test_no_e004_for_any_misread_secret_key(settings):
    for key in MISREAD_KEYS:
        use_secret_key(settings, key)
        assert [m.id for m in checks.check_settings()] == [], key


def test_secret_key_material_is_always_derived(settings):
    # Even a SECRET_KEY that is a valid Fernet key is a passphrase here.
    fernet_key = Fernet.generate_key().decode()
    use_secret_key(settings, fernet_key)
    ciphertext = crypto.encrypt(PLAINTEXT).encode()
    derived = crypto._to_fernet_key(fernet_key, from_secret_key=True)
    assert derived != fernet_key.encode()
    assert Fernet(derived).decrypt(ciphertext).decode() == PLAINTEXT
    with pytest.raises(InvalidToken):
        Fernet(fernet_key.encode()).decrypt(ciphertext)


def test_a_configured_key_is_a_fernet_key_only_if_fernet_accepts_it(settings):
    fernet_key = Fernet.generate_key().decode()
    assert crypto._to_fernet_key(fernet_key) == fernet_key.encode()
    for text in MISREAD_KEYS[:50]:
        use_keys(settings, [text])
        ciphertext = crypto.encrypt(PLAINTEXT).encode()
        assert Fernet(crypto._to_fernet_key(text)).decrypt(ciphertext).decode() == PLAINTEXT
        assert crypto._to_fernet_key(text) != text.encode()


@pytest.mark.parametrize("configured", [False, True], ids=["SECRET_KEY", "ENCRYPTION_KEYS"])
def test_values_stored_under_the_earlier_reading_still_decrypt(settings, configured):
    # Stored by the earlier version where Fernet was lenient (or the key a valid one).
    for text in MISREAD_KEYS[:50]:
        old_ciphertext = Fernet(lenient_key(text)).encrypt(PLAINTEXT.encode()).decode()
        if configured:
            use_keys(settings, [text])
        else:
            use_secret_key(settings, text)
        assert crypto.decrypt(old_ciphertext) == PLAINTEXT
        # A SECRET_KEY rotation keeps it readable through SECRET_KEY_FALLBACKS.
        if not configured:
            use_secret_key(settings, "a-new-secret-key-" + "x" * 40, text)
            assert crypto.decrypt(old_ciphertext) == PLAINTEXT


def test_a_fernet_key_secret_key_keeps_its_old_values(settings):
    # The earlier version used such a SECRET_KEY as it is.
    fernet_key = Fernet.generate_key().decode()
    old_ciphertext = Fernet(fernet_key.encode()).encrypt(PLAINTEXT.encode()).decode()
    use_secret_key(settings, fernet_key)
    assert crypto.decrypt(old_ciphertext) == PLAINTEXT


@pytest.mark.django_db
def test_connect_reencrypt_moves_values_off_the_earlier_reading(settings):
    text = next(k for k in MISREAD_KEYS if k.startswith(INSECURE_PREFIX))
    use_secret_key(settings, text)
    row = SharedSecret.for_secret(make_tenant(), "placeholder-to-be-overwritten")
    row.save()
    old_ciphertext = Fernet(lenient_key(text)).encrypt(PLAINTEXT.encode()).decode()
    table = connection.ops.quote_name(SharedSecret._meta.db_table)
    column = connection.ops.quote_name(SharedSecret._meta.get_field("secret").column)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [old_ciphertext, row.pk])
    assert SharedSecret.objects.get(pk=row.pk).secret == PLAINTEXT

    out = io.StringIO()
    call_command("connect_reencrypt", stdout=out)
    assert "1 value(s) re-encrypted" in out.getvalue()
    moved = raw_secret_column(row.pk).encode()
    derived = crypto._to_fernet_key(text, from_secret_key=True)
    assert Fernet(derived).decrypt(moved).decode() == PLAINTEXT
    with pytest.raises(InvalidToken):
        Fernet(lenient_key(text)).decrypt(moved)


def test_e004_names_where_the_key_came_from(settings):
    use_keys(settings, None)
    settings.SECRET_KEY = "ok-" + "k" * 50
    assert "SECRET_KEY" in crypto.key_origin()
    assert "is not set" in crypto.key_origin()
    use_keys(settings, [])
    (message,) = checks.check_settings()
    assert message.id == "atlassian_connect.E004"
    assert 'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"], are unusable' in message.msg
    assert "SECRET_KEY" in message.hint


def test_key_sources_name_their_origin_and_hide_their_material(settings):
    use_secret_key(settings, "current-" + "c" * 40, "old-" + "o" * 40)
    sources = crypto.key_sources()
    assert [s.origin for s in sources] == ["SECRET_KEY", "SECRET_KEY_FALLBACKS[0]"]
    assert "c" * 40 not in repr(sources)
    use_keys(settings, ["passphrase one", Fernet.generate_key().decode()])
    assert [s.origin for s in crypto.key_sources()] == [
        'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"][0]',
        'ATLASSIAN_CONNECT["ENCRYPTION_KEYS"][1]',
    ]
    assert "passphrase one" not in repr(crypto.key_sources())
