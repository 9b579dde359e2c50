"""The qsh mistakes: which common error reproduces a token's ``qsh``.

Builds the right canonical request and its usual misspellings (the base path
or ``/wiki`` left in, ``+`` for spaces, unsorted query, the ``jwt`` parameter
hashed, ...) and finds the one whose hash the signer used.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..qsh import (
    canonical_path,
    canonical_query,
    canonical_request,
    hash_canonical_request,
    parse_query,
    percent_encode,
    split_url,
)
from .report import ERROR, Report

#: The qsh mistakes the doctor tries, by cause.
QSH_CAUSES: dict[str, str] = {
    "base_path_included": "the app's base path was left in the hashed path (context path included)",
    "wiki_in_qsh": "'/wiki' was left in the hashed path; hash the path relative to the baseUrl",
    "trailing_slash_kept": "the trailing '/' of the path was hashed (it is dropped)",
    "decoded_path": "the path was hashed percent-decoded; the product hashes the raw path",
    "encoded_path": "the path was hashed percent-encoded while it was sent decoded",
    "plus_for_space": "spaces were encoded as '+' instead of '%20'",
    "unsorted_query": "the query parameters were hashed in request order, not sorted by name",
    "jwt_param_hashed": "the 'jwt' query parameter was included in the hash",
    "query_not_decoded": "the query was hashed as sent instead of decoded and RFC 3986-encoded",
    "query_omitted": "the query string was left out of the hash",
    "wrong_method": "the token was made for another HTTP method",
}

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


@dataclass(frozen=True)
class QshVariant:
    """A canonical request built with some mistakes (none for the right one)."""

    mistakes: tuple[str, ...]
    canonical: str

    @property
    def cause(self) -> str:
        return "+".join(self.mistakes)

    def describe(self) -> str:
        return "; ".join(QSH_CAUSES.get(m, m) for m in self.mistakes)


def _ordered_query(params: Iterable[tuple[str, str]], *, keep_jwt: bool) -> str:
    """Parameters encoded in the order given: the "unsorted" mistake."""
    return "&".join(
        f"{percent_encode(n)}={percent_encode(v)}" for n, v in params if keep_jwt or n != "jwt"
    )


def _sorted_query_with_jwt(params: list[tuple[str, str]]) -> str:
    """The canonical query with the ``jwt`` parameter hashed too."""
    items = [i for i in canonical_query(params).split("&") if i]
    values = sorted(v for n, v in params if n == "jwt")
    if values:
        items.append("jwt=" + ",".join(percent_encode(v) for v in values))
    items.sort(key=lambda item: item.split("=", 1)[0])
    return "&".join(items)


def _raw_query(raw_query: str) -> str:
    pieces = sorted(
        (name, value)
        for name, _, value in (p.partition("=") for p in raw_query.split("&") if p)
        if name != "jwt"
    )
    return "&".join(f"{n}={v}" for n, v in pieces)


def _path_variants(
    path: str, base_url: str | None, *, include_encoding: bool
) -> list[tuple[tuple[str, ...], str]]:
    prefix = split_url(base_url)[0].rstrip("/") if base_url else ""
    base_cause = "wiki_in_qsh" if prefix == "/wiki" else "base_path_included"
    right = canonical_path(path, base_url)
    variants: list[tuple[tuple[str, ...], str]] = [((), right)]
    if prefix:
        if path == prefix or path.startswith(prefix + "/"):
            variants.append(((base_cause,), canonical_path(path)))
        else:
            variants.append(((base_cause,), canonical_path(prefix + "/" + path.lstrip("/"))))
    if path.endswith("/") and right != "/":
        variants.append((("trailing_slash_kept",), right + "/"))
    if include_encoding:
        decoded = unquote(path)
        if decoded != path:
            variants.append((("decoded_path",), canonical_path(decoded, base_url)))
        encoded = quote(decoded, safe="/!$&'()*+,;=:@~")
        if encoded not in (path, decoded):
            variants.append((("encoded_path",), canonical_path(encoded, base_url)))
    return variants


def _query_variants(raw_query: str) -> list[tuple[tuple[str, ...], str]]:
    params = parse_query(raw_query)
    variants: list[tuple[tuple[str, ...], str]] = []
    for unsorted, keep_jwt, plus in itertools.product((False, True), repeat=3):
        if unsorted:
            query = _ordered_query(params, keep_jwt=keep_jwt)
        elif keep_jwt:
            query = _sorted_query_with_jwt(params)
        else:
            query = canonical_query(params)
        if plus:
            query = query.replace("%20", "+")
        mistakes = tuple(
            name
            for name, on in (
                ("unsorted_query", unsorted),
                ("jwt_param_hashed", keep_jwt),
                ("plus_for_space", plus),
            )
            if on
        )
        variants.append((mistakes, query))
    variants.append((("query_not_decoded",), _raw_query(raw_query)))
    variants.append((("query_omitted",), ""))
    return variants


def qsh_variants(
    method: str, url: str, base_url: str | None = None, *, include_encoding: bool = True
) -> list[QshVariant]:
    """The right canonical request first, then the common mistakes, fewest mistakes first."""
    path, raw_query = split_url(url)
    method = method.upper()
    right = canonical_request(method, url, base_url)
    seen = {right}
    variants = [QshVariant((), right)]
    combos: list[QshVariant] = []
    methods = [(method, ())] + [(m, ("wrong_method",)) for m in _METHODS if m != method]
    for (m, m_mistakes), (p_mistakes, p), (q_mistakes, q) in itertools.product(
        methods,
        _path_variants(path, base_url, include_encoding=include_encoding),
        _query_variants(raw_query),
    ):
        canonical = f"{m}&{p}&{q}"
        mistakes = (*p_mistakes, *q_mistakes, *m_mistakes)
        combos.append(QshVariant(mistakes, canonical))
    combos.sort(key=lambda v: len(v.mistakes))  # stable: singles in a fixed order first
    for variant in combos:
        if variant.canonical not in seen:
            seen.add(variant.canonical)
            variants.append(variant)
    return variants


def find_qsh_mistake(
    token_qsh: str,
    method: str,
    url: str,
    base_url: str | None = None,
    *,
    include_encoding: bool = True,
) -> QshVariant | None:
    """The variant (right or mistaken) whose hash is ``token_qsh``, if any."""
    for variant in qsh_variants(method, url, base_url, include_encoding=include_encoding):
        if hash_canonical_request(variant.canonical) == token_qsh:
            return variant
    return None


def report_qsh_mismatch(
    report: Report,
    token_qsh: str,
    method: str,
    url: str,
    base_url: str | None,
    ours: str,
    *,
    include_encoding: bool,
    replay_hint: str,
) -> None:
    """A ``qsh_mismatch`` finding naming the mistake that reproduces ``token_qsh``, if any
    (else ``other_request``: a token made for another request, with ``replay_hint``)."""
    variant = find_qsh_mistake(token_qsh, method, url, base_url, include_encoding=include_encoding)
    if variant is not None and variant.mistakes:
        report.add(
            "qsh_mismatch",
            ERROR,
            f"The token's qsh is the hash of {variant.canonical!r}, not of {ours!r}: "
            f"{variant.describe()}.",
            hint="Compute the qsh with the rules of docs/reference/qsh (or "
            "django_atlassian_connect.qsh.query_string_hash(method, url, base_url)).",
            cause=variant.cause,
            canonical_request=ours,
            signer_canonical_request=variant.canonical,
            mistakes=list(variant.mistakes),
        )
        return
    report.add(
        "qsh_mismatch",
        ERROR,
        f"The token's qsh was computed for another request than {ours!r}; none of the common "
        "mistakes reproduces it.",
        hint=replay_hint,
        cause="other_request",
        canonical_request=ours,
        token_qsh=token_qsh,
    )
