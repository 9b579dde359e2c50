"""The warm path's shortcuts give exactly the results of the plain algorithm.

Parsing the query once, the memos of decoded fields, encoded names and values
and canonical queries, the table encoding of ASCII, and the lazy candidate
paths are all checked against the straightforward computation (``parse_qsl``,
``quote``, one ``canonical_request`` per candidate path, ``request.GET``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote

import pytest
from django.core.exceptions import TooManyFieldsSent
from django.core.handlers.wsgi import WSGIRequest
from django.test import override_settings
from django.utils.encoding import escape_uri_path
from hypothesis import example, given, settings
from hypothesis import strategies as st

from django_atlassian_connect import qsh
from django_atlassian_connect.conf import connect_settings
from django_atlassian_connect.connect import inbound_request as inbound

QUERY_ALPHABET = st.sampled_from([*"aZ09-._~=&+%2Fe3A;#?*/ jwtJ", "é", "\u4e2d", "%6A", "%FF"])
QUERIES = st.lists(QUERY_ALPHABET, max_size=30).map("".join)
PATH_ALPHABET = st.sampled_from([*"ab/-._~&+%2F3?#*;=", "é", "%3F", "%23", "%E9"])
PATHS = st.lists(PATH_ALPHABET, max_size=16).map(lambda chars: "/" + "".join(chars))


def wsgi_request(
    path_info: str, query: str, *, method: str = "GET", raw_uri: str | None = None, **extra: str
) -> WSGIRequest:
    """A request as a WSGI server builds it: PATH_INFO and QUERY_STRING as Latin-1 text."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query.encode("utf-8").decode("latin-1"),
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        **extra,
    }
    if raw_uri is not None:
        environ["RAW_URI"] = raw_uri
    return WSGIRequest(environ)


def reference_canonical_requests(request: WSGIRequest) -> Iterator[str]:
    """The URL forms of RequestQsh as first written: every path, each parsed anew."""
    seen: set[str] = set()
    query = request.META.get("QUERY_STRING", "")
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    for path in (
        request.path,
        escape_uri_path(request.path),
        raw.split("?", 1)[0] if isinstance(raw, str) else None,
    ):
        if path is not None and path not in seen:
            seen.add(path)
            url = f"{path}?{query}" if query else path
            yield qsh.canonical_request(request.method or "GET", url, connect_settings.BASE_URL)


@given(QUERIES)
@example("a=1&&b=%zz&c+d=e+f&=g&h")
@example("jwt=x&%6Awt=y&JWT=z")
def test_parse_query_is_parse_qsl(query):
    assert qsh.parse_query(query) == parse_qsl(query, keep_blank_values=True)
    assert qsh.parse_query(query) == parse_qsl(query, keep_blank_values=True)  # memo hit


@given(st.text(max_size=40))
@example("\ud800")  # a lone surrogate: replaced, as quote() does
@example("https://bench.atlassian.net/a b+c*~")
def test_percent_encode_is_quote(value):
    expected = quote(value, safe="~", encoding="utf-8", errors="replace")
    assert qsh.percent_encode(value) == expected
    assert qsh.percent_encode(value) == expected  # memo hit


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "jwt", "é", "a b"]), st.text(max_size=5))))
def test_memo_canonical_query_is_canonical_query(pairs):
    assert qsh.memo_canonical_query(pairs) == qsh.canonical_query(pairs)
    assert qsh.memo_canonical_query(pairs) == qsh.canonical_query(pairs)


def test_memos_stay_bounded():
    for number in range(qsh._MEMO_SIZE + 10):
        qsh.percent_encode(f"value {number}")
        qsh.parse_query(f"name={number}%20")
    assert len(qsh._encoded) <= qsh._MEMO_SIZE
    assert len(qsh._decoded) <= qsh._MEMO_SIZE
    long_value = "x y" * 200
    qsh.percent_encode(long_value)
    assert long_value not in qsh._encoded


@settings(max_examples=300)
@given(PATHS, QUERIES, st.sampled_from(["GET", "post"]), st.booleans())
@example("/a%3Fb", "x=y", "GET", True)  # a decoded "?" in the path
@example("/a%23b", "x=y#z", "GET", False)  # a decoded "#", and a "#" in the query
def test_request_qsh_url_forms_match_the_plain_algorithm(path, query, method, with_raw_uri):
    raw_uri = f"{path}?{query}" if with_raw_uri else None
    request = wsgi_request(path, query, method=method, raw_uri=raw_uri)
    expected = list(reference_canonical_requests(request))
    assert list(inbound.RequestQsh(request).canonical_requests()) == expected


def test_request_qsh_with_an_absolute_form_raw_uri():
    request = wsgi_request("/p", "b=2&a=1", raw_uri="http://app.example.com/other?b=2&a=1")
    expected = list(reference_canonical_requests(request))
    assert list(inbound.RequestQsh(request).canonical_requests()) == expected
    assert expected[-1] == "GET&/other&a=1&b=2"


def test_the_first_matching_path_needs_no_other():
    request = wsgi_request("/plain", "b=2&a=1", raw_uri="/plain?b=2&a=1")
    wanted = qsh.query_string_hash("GET", "/plain?a=1&b=2")
    assert inbound.RequestQsh(request)(wanted)
    assert not inbound.RequestQsh(request)("0" * 64)


# -- the jwt query parameter, as request.GET reads it --------------------------------


@given(QUERIES)
@example("jwt=a%FFb&jwt=a%FEb")
@example("%6Awt=x")
def test_query_jwts_are_request_get_jwts(query):
    expected = wsgi_request("/p", query).GET.getlist("jwt")
    assert inbound._query_jwts(wsgi_request("/p", query), query) == expected


@pytest.mark.parametrize(
    "raw_query",
    [
        "jwt=\xc3\xa9",  # raw UTF-8 bytes: Django decodes them, the qsh reads Latin-1
        "jwt=\xff\xfe",  # not UTF-8: Django falls back to Latin-1 too
    ],
)
def test_raw_non_ascii_queries_go_through_request_get(raw_query):
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/p",
            "QUERY_STRING": raw_query,
            "wsgi.input": io.BytesIO(b""),
        }
    )
    found = inbound.get_raw_token(request)
    assert found == (request.GET.getlist("jwt")[0], "query")


def test_too_many_fields_are_refused_as_django_refuses_them():
    query = "&".join(f"f{number}=1" for number in range(5)) + "&jwt=x"
    with override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5):
        with pytest.raises(TooManyFieldsSent):
            inbound.get_raw_token(wsgi_request("/p", query))
        assert inbound.get_raw_token(wsgi_request("/p", "a=1&jwt=x")) == ("x", "query")


def test_a_request_get_replaced_by_middleware_is_what_counts():
    request = wsgi_request("/p", "jwt=from-the-url")
    request.GET = request.GET.copy()
    request.GET["jwt"] = "set-by-middleware"
    assert inbound.get_raw_token(request) == ("set-by-middleware", "query")


def test_another_request_encoding_goes_through_request_get():
    request = wsgi_request("/p", "jwt=%E9")
    request.encoding = "latin-1"
    assert inbound.get_raw_token(request) == ("é", "query")


def test_the_query_is_parsed_once_per_request(monkeypatch):
    wanted = qsh.query_string_hash("GET", "/p?a=1&b=%20")
    calls = []
    parse = qsh.parse_query
    monkeypatch.setattr(qsh, "parse_query", lambda raw: calls.append(raw) or parse(raw))
    request = wsgi_request("/p", "a=1&jwt=t&b=%20")
    assert inbound.get_raw_token(request) == ("t", "query")
    assert inbound.RequestQsh(request)(wanted)
    assert inbound.query_params(request) == [("a", "1"), ("jwt", "t"), ("b", " ")]
    assert len(calls) == 1
    request.META["QUERY_STRING"] = "c=3"  # a changed query is parsed again
    assert inbound.query_params(request) == [("c", "3")]
