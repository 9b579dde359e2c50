"""What an incoming Django request carries for Connect: its JWT and its qsh.

Finds the token in the ``Authorization: JWT`` header, the ``jwt`` query
parameter or a ``jwt`` form field (refusing different tokens in different
places), and computes this request's canonical request(s) for the qsh rule,
over the decoded and the raw path, the raw query parsed once.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest
from django.utils.encoding import escape_uri_path

from .. import qsh as qsh_module
from ..conf import connect_settings
from ..exceptions import ConnectAuthError

__all__ = ["FORM_CONTENT_TYPES", "RequestQsh", "form_params", "get_raw_token", "query_params"]


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# -- finding the token --------------------------------------------------------


def _header_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "jwt":
        return None
    return value.strip()


def form_params(request: HttpRequest) -> list[tuple[str, str]] | None:
    """Decoded fields of a form body (urlencoded or multipart), else ``None``."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if request.content_type not in FORM_CONTENT_TYPES:
        return None
    # DRF reuses Django's parsed form, so reading it here keeps it available.
    return [(name, value) for name, values in request.POST.lists() for value in values]


def _raw_query(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    if isinstance(query, bytes):  # pragma: no cover - WSGI and ASGI give str
        query = query.decode("latin-1")
    return query


def query_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The decoded ``(name, value)`` pairs of the request's raw query string.

    Parsed once per request and kept on it: the token lookup and the qsh both
    read them. Same rules as :func:`qsh.parse_query` (the qsh's view of the
    query, which may differ from Django's ``request.GET`` for raw non-ASCII).
    """
    raw = request.META.get("QUERY_STRING", "")
    cached = request.__dict__.get("_connect_query")
    if cached is not None and cached[0] is raw:
        return cached[1]  # type: ignore[no-any-return]
    pairs = qsh_module.parse_query(_raw_query(request))
    request._connect_query = (raw, pairs)  # type: ignore[attr-defined]
    return pairs


def _query_jwts(request: HttpRequest, query: str) -> list[str]:
    """The ``jwt`` query parameters, as ``request.GET.getlist("jwt")`` reads them.

    An ASCII query decoded as UTF-8 gives Django's pairs exactly, so the pairs
    the qsh needs anyway serve. Anything else goes through ``request.GET``:
    raw non-ASCII bytes (Django decodes them as UTF-8, the qsh as Latin-1), a
    request whose ``GET`` was already built or replaced, another charset, or
    more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (Django refuses those).
    """
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if (
        "GET" in request.__dict__
        or not query.isascii()
        or request.encoding is not None
        or settings.DEFAULT_CHARSET.lower() not in ("utf-8", "utf8")
        or (limit is not None and query.count("&") >= limit)
    ):
        return request.GET.getlist("jwt")
    return [value for name, value in query_params(request) if name == "jwt"]


def get_raw_token(request: HttpRequest) -> tuple[str, str] | None:
    """``(token, source)`` from the header, ``jwt`` query parameter or form field.

    ``None`` when the request carries no Connect token at all (another
    authentication scheme may handle it). Different tokens in different places
    are refused (``token_ambiguous``).
    """
    found: list[tuple[str, str]] = []
    header = _header_token(request)
    if header is not None:
        found.append((header, "header"))
    query = _raw_query(request)
    if "jwt" in query or "%" in query:  # the name may be percent-encoded; else no parsing
        found.extend((value, "query") for value in _query_jwts(request, query))
    body = form_params(request)
    if body:
        found.extend((value, "form") for name, value in body if name == "jwt")
    if not found:
        return None
    if len(found) > 1 and len({token for token, _ in found}) > 1:
        raise ConnectAuthError(
            "token_ambiguous",
            "The request carries different JWTs in "
            + ", ".join(sorted({source for _, source in found}))
            + "; send one token in one place.",
        )
    token, source = found[0]
    if not token:
        raise ConnectAuthError("token_missing", f"The JWT in the {source} is empty.")
    return token, source


# -- the request's qsh ----------------------------------------------------------


def _candidate_paths(request: HttpRequest) -> Iterator[str]:
    """The request path as Django decoded it, re-encoded, and as received raw.

    Each computed only when the ones before it did not match.
    """
    decoded = request.path
    yield decoded
    escaped = escape_uri_path(decoded)
    if escaped != decoded:
        yield escaped
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if isinstance(raw, str):
        raw_path = raw.split("?", 1)[0]
        if raw_path != decoded and raw_path != escaped:
            yield raw_path


class RequestQsh:
    """Computes this request's canonical request(s) lazily and compares qsh.

    Accepted: the URL's query alone; and, for a form POST/PUT/PATCH, the URL's
    query plus the form fields (what the product's servlet canonicalizer
    hashes). Each over the decoded and the raw path. Only what is needed is
    computed: a token that matches the first form costs one hash, and the
    query is parsed and canonicalised once for all the paths.
    """

    def __init__(
        self, request: HttpRequest, *, body_params: list[tuple[str, str]] | None = None
    ) -> None:
        self.request = request
        self.body_params = body_params
        self.base_url = connect_settings.BASE_URL
        self.query = _raw_query(request)
        self._canonical_query: str | None = None

    def _url_form(self, method: str, path: str) -> str:
        """``canonical_request(method, path?query)``, the query canonicalised once."""
        if not path.startswith("/") or "?" in path or "#" in path:
            # A decoded "%3F" or "%23", or an absolute-form raw URI: the generic
            # splitting decides where the path ends, exactly as before.
            url = f"{path}?{self.query}" if self.query else path
            return qsh_module.canonical_request(method, url, self.base_url)
        if self._canonical_query is None:
            query = self.query
            if "#" in query:  # split_url() ends the URL at a fragment
                pairs = qsh_module.parse_query(query.split("#", 1)[0])
            else:
                pairs = query_params(self.request)
            self._canonical_query = qsh_module.memo_canonical_query(pairs)
        return "&".join(
            (method.upper(), qsh_module.canonical_path(path, self.base_url), self._canonical_query)
        )

    def canonical_requests(self) -> Iterator[str]:
        method = self.request.method or "GET"
        for path in _candidate_paths(self.request):  # lazily: the first usually matches
            yield self._url_form(method, path)
        body = self.body_params if self.body_params is not None else form_params(self.request)
        if body:
            # The form fields join the URL's query parameters (given with the bare
            # path, body_params stand in for the whole query).
            merged = [*query_params(self.request), *body]
            for path in _candidate_paths(self.request):
                yield qsh_module.canonical_request(method, path, self.base_url, body_params=merged)

    @property
    def canonical(self) -> str:
        """The canonical request of the decoded path (for messages)."""
        return next(self.canonical_requests())

    def __call__(self, token_qsh: str) -> bool:
        wanted = token_qsh.encode("utf-8", "replace")
        for canonical in self.canonical_requests():
            computed = qsh_module.hash_canonical_request(canonical).encode("ascii")
            if hmac.compare_digest(computed, wanted):
                return True
        return False
