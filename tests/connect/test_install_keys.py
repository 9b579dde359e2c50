"""connect/install_keys.py (install keys by kid) and the testing key server."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.core.cache import caches

from django_atlassian_connect.connect import install_keys
from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.testing import InstallKeyPair, InstallKeyServer

SITE = "https://acme.atlassian.net"
STAGING_SITE = "https://acme.jira-dev.com"
UNREACHABLE = "http://127.0.0.1:9"


def configure(settings, **values):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, **values}


def fetch_error(kid: str, base_url: str = SITE) -> ConnectAuthError:
    with pytest.raises(ConnectAuthError) as excinfo:
        install_keys.fetch_install_key(kid, base_url)
    return excinfo.value


@pytest.fixture
def served(key_server):
    """Serve extra objects under kids of their own for one test."""
    added: list[str] = []

    def serve(public_pem: str) -> str:
        kid = str(uuid.uuid4())
        key_server.keys[kid] = SimpleNamespace(public_pem=public_pem)
        added.append(kid)
        return kid

    yield serve
    for kid in added:
        key_server.keys.pop(kid, None)


# -- validate_kid ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        "abc",
        "key.v1",
        "connect_install-2024.01",
        "a" * 128,
    ],
)
def test_validate_kid_accepts_key_ids(kid):
    assert install_keys.validate_kid(kid) == kid


@pytest.mark.parametrize(
    "kid",
    [
        "../x",
        "..",
        ".",
        "a..b",
        ".hidden",
        "a.",
        "a/b",
        "/abs",
        "a\\b",
        "%2F",
        "a%2e%2e",
        "http://x",
        "a?b=c",
        "a#b",
        "a b",
        "abc\n",  # "$" alone would accept a trailing newline
        "\nabc",
        "abc\r\nHost: evil",
        "ü",
        "",
        None,
        123,
        ["kid"],
        "x" * 129,
        "x" * 10240,
    ],
)
def test_validate_kid_rejects(kid):
    with pytest.raises(ConnectAuthError) as excinfo:
        install_keys.validate_kid(kid)
    error = excinfo.value
    assert error.code == "key_invalid"
    assert error.status_code == 401
    assert len(error.detail) < 300  # a 10 kB kid is not echoed back


# -- key URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "staging"),
    [
        (STAGING_SITE, True),
        ("https://ACME.JIRA-DEV.COM/wiki", True),
        (SITE, False),
        ("https://acme.jira-dev.com.evil.example", False),
        ("https://jira-dev.com", False),
        ("not a url", False),
    ],
)
def test_is_staging_host(base_url, staging):
    assert install_keys.is_staging_host(base_url) is staging


def test_key_url_production_and_staging(settings):
    configure(
        settings,
        INSTALL_KEYS_URL="https://keys.example.com/",
        INSTALL_KEYS_STAGING_URL="https://staging-keys.example.com",
    )
    assert install_keys.key_url("abc", SITE) == "https://keys.example.com/abc"
    assert install_keys.key_url("abc", STAGING_SITE) == "https://staging-keys.example.com/abc"
    configure(settings, STAGING_PRODUCT_HOSTS=["*.atlassian.net"])
    assert install_keys.key_url("abc", SITE) == "https://staging-keys.example.com/abc"


def test_key_url_validates_the_kid():
    with pytest.raises(ConnectAuthError) as excinfo:
        install_keys.key_url("../../etc/passwd", SITE)
    assert excinfo.value.code == "key_invalid"


def test_default_endpoints():
    from django_atlassian_connect.conf import DEFAULTS

    assert DEFAULTS["INSTALL_KEYS_URL"] == "https://connect-install-keys.atlassian.com"
    assert (
        DEFAULTS["INSTALL_KEYS_STAGING_URL"]
        == "https://cs-migrations--cdn.us-west-1.staging.public.atl-paas.net"
    )


# -- fetch_install_key ----------------------------------------------------------------


def test_fetch_install_key_fetches_and_caches(key_server, install_key):
    cache_key = f"atlassian_connect:install_key:{key_server.url}/{install_key.kid}"
    start = len(key_server.requests)
    pem = install_keys.fetch_install_key(install_key.kid, SITE)
    assert pem == install_key.public_pem
    assert key_server.requests[start:] == [install_key.kid]
    assert caches["default"].get(cache_key) == pem
    # Second call: no request.
    assert install_keys.fetch_install_key(install_key.kid, SITE) == pem
    assert len(key_server.requests) == start + 1
    # Django cache emptied: process memory still has it.
    caches["default"].clear()
    assert install_keys.fetch_install_key(install_key.kid, SITE) == pem
    assert len(key_server.requests) == start + 1
    # Both forgotten: fetched again, and cached again.
    install_keys.clear_memory_cache()
    assert install_keys.fetch_install_key(install_key.kid, SITE) == pem
    assert len(key_server.requests) == start + 2
    assert caches["default"].get(cache_key) == pem
    # Memory forgotten: the Django cache (shared by processes) answers.
    install_keys.clear_memory_cache()
    assert install_keys.fetch_install_key(install_key.kid, SITE) == pem
    assert len(key_server.requests) == start + 2


def test_fetched_key_is_a_usable_rsa_key(install_key):
    pem = install_keys.fetch_install_key(install_key.kid, SITE)
    assert isinstance(load_pem_public_key(pem.encode()), rsa.RSAPublicKey)


def test_unknown_kid_is_key_invalid(key_server):
    kid = str(uuid.uuid4())
    start = len(key_server.requests)
    error = fetch_error(kid)
    assert error.code == "key_invalid"
    assert error.status_code == 401
    assert "not signed by Atlassian" in error.detail
    assert key_server.requests[start:] == [kid]


def test_invalid_kid_makes_no_request(key_server):
    start = len(key_server.requests)
    assert fetch_error("../admin").code == "key_invalid"
    assert len(key_server.requests) == start


@pytest.mark.parametrize("status", [500, 502, 503, 403, 302, 301])
def test_server_failure_is_key_unavailable(key_server, install_key, status):
    key_server.fail_with = status
    error = fetch_error(install_key.kid)
    assert error.code == "key_unavailable"
    assert error.status_code == 503
    assert str(status) in error.detail


def test_failures_are_not_cached(key_server, install_key):
    key_server.fail_with = 500
    assert fetch_error(install_key.kid).code == "key_unavailable"
    key_server.fail_with = None
    start = len(key_server.requests)
    assert install_keys.fetch_install_key(install_key.kid, SITE) == install_key.public_pem
    assert len(key_server.requests) == start + 1


def test_garbage_is_key_unavailable(key_server, install_key):
    key_server.garbage = True
    error = fetch_error(install_key.kid)
    assert error.code == "key_unavailable"
    assert "not a PEM public key" in error.detail


def test_non_rsa_key_is_key_unavailable(served):
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    error = fetch_error(served(ec_pem))
    assert error.code == "key_unavailable"
    assert "not an RSA key" in error.detail


def test_oversized_answer_is_key_unavailable(served):
    error = fetch_error(served("-----BEGIN PUBLIC KEY-----\n" + "A" * 20000))
    assert error.code == "key_unavailable"
    assert "large" in error.detail


def test_unreachable_key_server_is_key_unavailable(settings, install_key):
    configure(settings, INSTALL_KEYS_URL=UNREACHABLE)
    error = fetch_error(install_key.kid)
    assert error.code == "key_unavailable"
    assert error.status_code == 503
    assert UNREACHABLE in error.detail


def test_staging_host_uses_the_staging_url(settings, key_server, install_key):
    configure(settings, INSTALL_KEYS_URL=UNREACHABLE, INSTALL_KEYS_STAGING_URL=key_server.url)
    start = len(key_server.requests)
    assert install_keys.fetch_install_key(install_key.kid, STAGING_SITE) == install_key.public_pem
    assert key_server.requests[start:] == [install_key.kid]
    # A production site still goes to INSTALL_KEYS_URL (unreachable here).
    assert fetch_error(install_key.kid, SITE).code == "key_unavailable"


def test_production_host_does_not_use_the_staging_url(settings, key_server, install_key):
    configure(settings, INSTALL_KEYS_STAGING_URL=UNREACHABLE)
    assert install_keys.fetch_install_key(install_key.kid, SITE) == install_key.public_pem
    assert fetch_error(install_key.kid, STAGING_SITE).code == "key_unavailable"


def test_key_cache_alias_setting(settings, install_key):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "keys": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "keys"},
    }
    configure(settings, KEY_CACHE_ALIAS="keys")
    pem = install_keys.fetch_install_key(install_key.kid, SITE)
    url = install_keys.key_url(install_key.kid, SITE)
    assert caches["keys"].get(f"atlassian_connect:install_key:{url}") == pem
    caches["keys"].clear()


def test_a_cache_outage_does_not_refuse_an_install(settings, key_server, install_key, caplog):
    """Redis down or restarting: the key is downloaded (and kept in memory), never a 500."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        },
    }
    configure(settings, KEY_CACHE_ALIAS="down")
    start = len(key_server.requests)
    assert install_keys.fetch_install_key(install_key.kid, SITE) == install_key.public_pem
    assert install_keys.fetch_install_key(install_key.kid, SITE) == install_key.public_pem
    assert key_server.requests[start:] == [install_key.kid]
    assert "install key cache read failed (ConnectionError); going without it" in caplog.text
    assert "install key cache write failed (ConnectionError)" in caplog.text


# -- the testing key server and key pair ------------------------------------------------


def test_install_key_pair():
    pair = InstallKeyPair()
    assert str(uuid.UUID(pair.kid)) == pair.kid
    install_keys.validate_kid(pair.kid)
    public = load_pem_public_key(pair.public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    private = serialization.load_pem_private_key(pair.private_pem, password=None)
    assert private.public_key().public_numbers() == public.public_numbers()
    assert b"PRIVATE KEY" not in repr(pair).encode()
    assert pair.kid in repr(pair)


def test_install_key_server_serves_keys():
    pair = InstallKeyPair(kid="fixed-kid")
    server = InstallKeyServer(pair)
    with pytest.raises(AssertionError):
        server.url  # not started
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        response = requests.get(f"{server.url}/fixed-kid", timeout=5)
        assert response.status_code == 200
        assert response.text == pair.public_pem
        assert response.headers["Content-Type"] == "application/x-pem-file"
        assert requests.get(f"{server.url}/unknown", timeout=5).status_code == 404
        other = server.add(InstallKeyPair(kid="second"))
        assert requests.get(f"{server.url}/second", timeout=5).text == other.public_pem
        server.fail_with = 503
        assert requests.get(f"{server.url}/fixed-kid", timeout=5).status_code == 503
        server.fail_with = None
        server.garbage = True
        garbage = requests.get(f"{server.url}/fixed-kid", timeout=5)
        assert garbage.status_code == 200 and "BEGIN" not in garbage.text
        assert server.requests == ["fixed-kid", "unknown", "second", "fixed-kid", "fixed-kid"]
    # Stopped: the port no longer answers.
    with pytest.raises(AssertionError):
        server.url
    server.stop()  # idempotent
