"""The Atlassian Connect query string hash (qsh).

Pure functions with no Django import, so they can be used (and tested)
anywhere. The algorithm follows Atlassian's reference implementation::

    qsh = hex(sha256(METHOD + "&" + CANONICAL_URI + "&" + CANONICAL_QUERY))

See ``docs/reference/qsh.rst`` for the rules with examples.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "CONTEXT_QSH",
    "canonical_path",
    "canonical_query",
    "canonical_request",
    "hash_canonical_request",
    "memo_canonical_query",
    "percent_encode",
    "query_string_hash",
    "split_url",
]

#: The literal ``qsh`` claim of context tokens (``AP.context.getToken()``).
CONTEXT_QSH = "context-qsh"

#: Query parameter that carries the token itself; never part of the hash.
_JWT_PARAM = "jwt"

_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# The characters percent_encode() leaves alone (RFC 3986 unreserved), and the
# escape of every other ASCII character (what quote() gives them, upper-case hex).
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_ASCII_ESCAPES = {
    code: f"%{code:02X}" for code in range(128) if not _UNRESERVED.fullmatch(chr(code))
}


# Query names and values repeat from request to request (the product's iframe
# parameters are the same for every page of a site): short ones are decoded and
# encoded once per process. Pure functions of their argument, so the memos
# change no result; the token itself is too long to be remembered. When full, a
# memo starts again (a flood of distinct values only costs the encoding).
_MEMO_MAX_LENGTH = 200
_MEMO_SIZE = 4096


class _Memo(dict):  # type: ignore[type-arg]
    """``memo[key]``: a dict hit, else ``compute(key)`` (remembered if short)."""

    def __init__(self, compute: Any, size: int = _MEMO_SIZE) -> None:
        super().__init__()
        self.compute = compute
        self.size = size

    def __missing__(self, key: Any) -> Any:
        value = self.compute(key)
        if len(key) <= _MEMO_MAX_LENGTH:
            if len(self) >= self.size:
                self.clear()
            self[key] = value
        return value


def _percent_encode(value: str) -> str:
    if _UNRESERVED.fullmatch(value):
        return value
    if value.isascii():  # one byte per character: a table lookup each
        return value.translate(_ASCII_ESCAPES)
    return quote(value, safe="~", encoding="utf-8", errors="replace")


_encoded = _Memo(_percent_encode)


def percent_encode(value: str) -> str:
    """Encode ``value`` per RFC 3986: only ``A-Z a-z 0-9 - . _ ~`` stay.

    Every other UTF-8 byte becomes upper-case ``%XX`` (space is ``%20``,
    ``+`` is ``%2B``, ``*`` is ``%2A``).
    """
    return _encoded[value]  # type: ignore[no-any-return]


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


# The base URL is a setting (inbound) or a tenant's baseUrl (outbound): a few values.
@functools.lru_cache(maxsize=256)
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
    memo = _encoded  # percent_encode() without a call per name and value
    for name, values in grouped.items():
        if len(values) == 1:
            joined = memo[values[0]]
        else:
            values.sort(key=_java_order)
            joined = ",".join([memo[value] for value in values])
        encoded.append((memo[name], joined))
    encoded.sort()  # names are unique: sorted by encoded name
    return "&".join(map("=".join, encoded))


# Whole canonical queries of the pair lists seen last (at most 32 pairs each; a
# request line is bounded by the server, 4 KiB in gunicorn: 512 entries stay small).
_MEMO_MAX_PAIRS = 32
_canonical_queries = _Memo(canonical_query, size=512)


def memo_canonical_query(params: list[tuple[str, str]]) -> str:
    """:func:`canonical_query` of ``params``, remembered per process.

    For the query of an incoming request: apart from ``jwt`` (left out of the
    key, as it is of the result), the product sends the same parameters with
    every page of a site and module.
    """
    key = tuple([pair for pair in params if pair[0] != _JWT_PARAM])
    if len(key) > _MEMO_MAX_PAIRS:
        return canonical_query(key)
    return _canonical_queries[key]  # type: ignore[no-any-return]


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` query string.

    ``+`` is a space; a name without ``=`` has the empty value; empty fields
    (``a=1&&b=2``) are skipped. The same pairs as ``urllib.parse.parse_qsl(raw_query,
    keep_blank_values=True)``, without its per-field overhead.
    """
    pairs: list[tuple[str, str]] = []
    memo = _decoded
    for field in raw_query.split("&") if raw_query else ():
        if field:
            pairs.append(memo[field])
    return pairs


def _decode_field(field: str) -> tuple[str, str]:
    name, _, value = field.partition("=")
    if "+" in field or "%" in field:
        name = unquote(name.replace("+", " "), encoding="utf-8", errors="replace")
        value = unquote(value.replace("+", " "), encoding="utf-8", errors="replace")
    return name, value


_decoded = _Memo(_decode_field)


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
