"""The Atlassian Connect query string hash (qsh).

Pure functions with no Django import, so they can be used (and tested)
anywhere. The algorithm follows Atlassian's reference implementation::

    qsh = hex(sha256(METHOD + "&" + CANONICAL_URI + "&" + CANONICAL_QUERY))

See ``docs/reference/qsh.rst`` for the rules with examples.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = [
    "CONTEXT_QSH",
    "canonical_path",
    "canonical_query",
    "canonical_request",
    "hash_canonical_request",
    "percent_encode",
    "query_string_hash",
    "split_url",
]

#: The literal ``qsh`` claim of context tokens (``AP.context.getToken()``).
CONTEXT_QSH = "context-qsh"

#: Query parameter that carries the token itself; never part of the hash.
_JWT_PARAM = "jwt"

_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def percent_encode(value: str) -> str:
    """Encode ``value`` per RFC 3986: only ``A-Z a-z 0-9 - . _ ~`` stay.

    Every other UTF-8 byte becomes upper-case ``%XX`` (space is ``%20``,
    ``+`` is ``%2B``, ``*`` is ``%2A``).
    """
    return quote(value, safe="~", encoding="utf-8", errors="replace")


def _java_order(value: str) -> bytes:
    # Atlassian's signer (Java) compares strings by UTF-16 code units; that
    # differs from code-point order only for characters beyond U+FFFF.
    return value.encode("utf-16-be", "surrogatepass")


def split_url(url: str) -> tuple[str, str]:
    """Return ``(path, raw_query)`` of an absolute URL or a path+query.

    Scheme, host, port and fragment are dropped.
    """
    absolute = _ABSOLUTE_URL.match(url)
    if absolute:
        try:
            parts = urlsplit(url)
        except ValueError:
            # urlsplit() refuses some hosts ("http://[x"); the path and query
            # still follow the authority, which ends at the first "/", "?" or "#".
            url = re.sub(r"^[^/?#]*", "", url[absolute.end() :], count=1)
        else:
            return parts.path, parts.query
    # A bare path: split by hand, because urlsplit() would read a leading
    # "//" as a host name.
    path_and_query = url.split("#", 1)[0]
    path, _, query = path_and_query.partition("?")
    return path, query


def _base_path(base_url: str | None) -> str:
    if not base_url:
        return ""
    return split_url(base_url)[0].rstrip("/")


def canonical_path(path: str, base_url: str | None = None) -> str:
    """The canonical URI: ``path`` relative to ``base_url``'s path.

    ``base_url`` is an absolute URL or a bare path (``/wiki``); its path is
    removed from the front of ``path`` when ``path`` starts with it at a
    segment boundary.
    """
    prefix = _base_path(base_url)
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :]
    if path.endswith("/"):
        path = path[:-1]
    if not path.strip():
        path = "/"
    if not path.startswith("/"):
        path = "/" + path
    # An unencoded "&" in the path would make "/a&b=c?x=y" and "/a?b=c&x=y"
    # hash alike.
    return path.replace("&", "%26")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string of decoded ``(name, value)`` pairs.

    ``jwt`` is dropped; each name's values are sorted and joined with ``,``;
    parameters are sorted by their encoded name.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if name == _JWT_PARAM:
            continue
        grouped.setdefault(name, []).append(value)
    encoded = []
    for name, values in grouped.items():
        values.sort(key=_java_order)
        encoded.append((percent_encode(name), ",".join(percent_encode(v) for v in values)))
    encoded.sort()
    return "&".join(f"{name}={values}" for name, values in encoded)


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` query string.

    ``+`` is a space; a name without ``=`` has the empty value.
    """
    return parse_qsl(raw_query, keep_blank_values=True, encoding="utf-8", errors="replace")


def canonical_request(
    method: str,
    url: str,
    base_url: str | None = None,
    *,
    body_params: Iterable[tuple[str, str]] | None = None,
) -> str:
    """Return the canonical request ``METHOD&URI&QUERY`` for ``url``.

    ``url`` is absolute or a path with an optional query. The path of
    ``base_url`` (absolute or a bare path such as ``/wiki``) is stripped
    first. ``body_params`` (decoded form fields) stand in for the query
    when the URL has none: the compatibility mode of atlassian-connect-express
    for tokens sent in a form body.
    """
    path, raw_query = split_url(url)
    params: Iterable[tuple[str, str]] = parse_query(raw_query)
    if not raw_query and body_params is not None:
        params = body_params
    return "&".join((method.upper(), canonical_path(path, base_url), canonical_query(params)))


def hash_canonical_request(canonical: str) -> str:
    """SHA-256 of a canonical request, as lower-case hex."""
    # surrogatepass: a lone surrogate (not valid text, but a str) must not raise.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def query_string_hash(
    method: str,
    url: str,
    base_url: str | None = None,
    *,
    body_params: Iterable[tuple[str, str]] | None = None,
) -> str:
    """Return the ``qsh`` claim for a request (see :func:`canonical_request`)."""
    return hash_canonical_request(canonical_request(method, url, base_url, body_params=body_params))
