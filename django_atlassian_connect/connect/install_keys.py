"""Atlassian's install public keys, by ``kid``.

Signed installs (RS256) name their key in the ``kid`` header. The PEM lives at
``<INSTALL_KEYS_URL>/<kid>`` (staging sites: ``INSTALL_KEYS_STAGING_URL``;
Atlassian Government Cloud sites: the URL ``INSTALL_KEYS_URLS_BY_HOST`` maps
their host to). The install's ``baseUrl`` is not verified when the key is
fetched, so it only *selects* among configured URLs: no URL ever comes from
the request or the token.
Keys never change for a ``kid``, so they are cached (Django cache, then process
memory); a cache that fails (Redis restarting) is logged and gone without: the
key is downloaded. The ``kid`` is validated before it goes into a URL.
"""

from __future__ import annotations

import logging
import re
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from .. import __version__
from ..conf import connect_settings
from ..exceptions import ConnectAuthError
from ..http.targets import LOOPBACK_HOSTS

logger = logging.getLogger("django_atlassian_connect")

# UUID-like: letters, digits, "-", "_" and single dots; never "/", "%" or "..".
_KID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*$")
MAX_KID_LENGTH = 128
MAX_KEY_BYTES = 16384

_memory: dict[str, str] = {}


def validate_kid(kid: object) -> str:
    if not isinstance(kid, str) or not kid:
        raise ConnectAuthError("key_invalid", "The install token has no kid header naming its key.")
    # fullmatch: "$" alone would let a trailing newline through.
    if len(kid) > MAX_KID_LENGTH or not _KID.fullmatch(kid):
        raise ConnectAuthError(
            "key_invalid",
            f"The install token's kid {kid[:40]!r} is not a key id "
            "(letters, digits, '-', '_', '.'; at most 128 characters).",
        )
    return kid


def is_staging_host(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return any(fnmatch(host, pattern.lower()) for pattern in connect_settings.STAGING_PRODUCT_HOSTS)


def keys_url_by_host(base_url: str) -> str | None:
    """The ``INSTALL_KEYS_URLS_BY_HOST`` URL whose pattern matches the host of ``base_url``.

    Patterns are fnmatch patterns, compared in lower case; the first match wins.
    """
    mapping = connect_settings.INSTALL_KEYS_URLS_BY_HOST or {}
    if not isinstance(mapping, dict):
        raise ImproperlyConfigured(
            'ATLASSIAN_CONNECT["INSTALL_KEYS_URLS_BY_HOST"] must be a dict of host pattern to '
            f"install keys URL, not {type(mapping).__name__}."
        )
    host = (urlsplit(base_url).hostname or "").lower()
    if not host:
        return None
    for pattern, url in mapping.items():
        if fnmatch(host, str(pattern).lower()):
            return str(url)
    return None


def keys_map_problems() -> list[tuple[str, str, str]]:
    """``("E023", message, hint)`` for each unusable ``INSTALL_KEYS_URLS_BY_HOST`` entry."""
    mapping = connect_settings.INSTALL_KEYS_URLS_BY_HOST
    hint = (
        'e.g. "INSTALL_KEYS_URLS_BY_HOST": {"*.atlassian-us-gov-mod.net": '
        '"https://connect-install-keys.atlassian-us-gov-mod.com"}: host patterns (fnmatch) to '
        "the https URL of the key server for those sites."
    )
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        return [("E023", f"INSTALL_KEYS_URLS_BY_HOST is a {type(mapping).__name__}.", hint)]
    problems = []
    for pattern, url in mapping.items():
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:
            parts = None
        secure = parts is not None and (
            parts.scheme == "https"
            or (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)
        )
        if not isinstance(pattern, str) or not pattern.strip():
            problems.append(
                ("E023", f"INSTALL_KEYS_URLS_BY_HOST key {pattern!r} is no host.", hint)
            )
        elif parts is None or not parts.hostname or not secure or parts.query:
            problems.append(
                (
                    "E023",
                    f"INSTALL_KEYS_URLS_BY_HOST[{pattern!r}] = {str(url)[:100]!r} is not an "
                    "https URL (plain http only on a loopback host): installs from those sites "
                    "could not be verified.",
                    hint,
                )
            )
    return problems


def keys_root(base_url: str) -> str:
    """Where the install keys of a site live: by host, then staging, then INSTALL_KEYS_URL."""
    by_host = keys_url_by_host(base_url)
    if by_host:
        return by_host
    if is_staging_host(base_url):
        return str(connect_settings.INSTALL_KEYS_STAGING_URL)
    return str(connect_settings.INSTALL_KEYS_URL)


def key_url(kid: str, base_url: str) -> str:
    return f"{keys_root(base_url).rstrip('/')}/{validate_kid(kid)}"


def _check_pem(text: str, url: str) -> str:
    try:
        key = load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ConnectAuthError(
            "key_unavailable",
            f"The install key server answered {url} with something that is not a PEM public key.",
        ) from exc
    if not isinstance(key, RSAPublicKey):
        raise ConnectAuthError("key_unavailable", f"The install key at {url} is not an RSA key.")
    return text


def fetch_install_key(kid: str, base_url: str) -> str:
    """The PEM public key for ``kid``, from cache or the key server.

    ``key_invalid`` (401) when the server does not know the ``kid``;
    ``key_unavailable`` (503) when it cannot be reached or answers garbage.
    """
    url = key_url(kid, base_url)
    if url in _memory:
        return _memory[url]
    cache = caches[connect_settings.KEY_CACHE_ALIAS]
    cache_key = f"atlassian_connect:install_key:{url}"
    pem = _cache_call("read", cache.get, cache_key)
    if pem is None:
        pem = _download(url)
        _cache_call("write", cache.set, cache_key, pem, connect_settings.KEY_CACHE_TIMEOUT)
    _memory[url] = pem
    return pem


def _cache_call(operation: str, func: Any, *args: Any) -> Any:
    """The cache only saves a download: when it is down (Redis restarting), go without it."""
    try:
        return func(*args)
    except Exception as exc:
        logger.warning(
            "install key cache %s failed (%s); going without it", operation, type(exc).__name__
        )
        return None


def _download(url: str) -> str:
    try:
        response = requests.get(
            url,
            timeout=connect_settings.KEY_FETCH_TIMEOUT,
            allow_redirects=False,
            headers={"User-Agent": f"django-atlassian-connect/{__version__}"},
        )
    except requests.RequestException as exc:
        logger.warning("install key fetch failed: %s: %s", url, type(exc).__name__)
        raise ConnectAuthError(
            "key_unavailable",
            f"Could not fetch the install key from {url} ({type(exc).__name__}).",
        ) from exc
    if response.status_code == 404:
        raise ConnectAuthError(
            "key_invalid",
            f"The install key server has no key at {url}: the token was not signed by Atlassian.",
        )
    if response.status_code != 200:
        raise ConnectAuthError(
            "key_unavailable",
            f"The install key server answered {response.status_code} for {url}.",
        )
    if len(response.content) > MAX_KEY_BYTES:
        raise ConnectAuthError("key_unavailable", f"The install key at {url} is implausibly large.")
    return _check_pem(response.text, url)


def clear_memory_cache() -> None:
    """Forget keys held in process memory (tests; the Django cache is separate)."""
    _memory.clear()
