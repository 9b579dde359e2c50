"""The query string hash: public reference vectors, hand-written cases, properties."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from django_atlassian_connect.qsh import (
    CONTEXT_QSH,
    canonical_path,
    canonical_query,
    canonical_request,
    hash_canonical_request,
    percent_encode,
    query_string_hash,
    split_url,
)

SHARED_VECTORS = Path(__file__).parents[2] / "shared/vectors/qsh-public.json"
LOCAL_VECTORS = Path(__file__).parent / "data/qsh-public.json"


def load_vectors() -> list[dict[str, Any]]:
    """The shared reference vectors; the copy in tests/data when shared/ is absent."""
    path = SHARED_VECTORS if SHARED_VECTORS.exists() else LOCAL_VECTORS
    return json.loads(path.read_text(encoding="utf-8"))


VECTORS = load_vectors()
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _vector_args(vector: dict[str, Any]) -> tuple[tuple[str, str, str | None], dict[str, Any]]:
    """Positional and keyword arguments of canonical_request() for a vector.

    Body parameters stand in for the query only when the token came in the form
    body (the list has a ``jwt`` entry): ACE's compatibility mode.
    """
    kwargs: dict[str, Any] = {}
    body = vector.get("body_params")
    if body and any(name == "jwt" for name, _ in body):
        kwargs["body_params"] = [tuple(pair) for pair in body]
    return (vector["method"], vector["url_or_path"], vector["base_url"] or None), kwargs


def test_vectors_are_loaded_and_the_local_copy_matches():
    assert len(VECTORS) >= 21
    ids = [v["id"] for v in VECTORS]
    assert len(ids) == len(set(ids))
    # The fallback copy must not drift from the shared file.
    local = json.loads(LOCAL_VECTORS.read_text(encoding="utf-8"))
    if SHARED_VECTORS.exists():
        assert local == json.loads(SHARED_VECTORS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_reference_vector_canonical_request(vector):
    args, kwargs = _vector_args(vector)
    assert canonical_request(*args, **kwargs) == vector["expected_canonical"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_reference_vector_qsh(vector):
    args, kwargs = _vector_args(vector)
    assert query_string_hash(*args, **kwargs) == vector["expected_qsh"]
    assert hash_canonical_request(vector["expected_canonical"]) == vector["expected_qsh"]


def test_body_params_without_form_token_are_not_hashed():
    (with_jwt,) = [v for v in VECTORS if v["id"] == "js/qsh-post-body-params"]
    (without,) = [v for v in VECTORS if v["id"] == "js/qsh-post-body-ignored"]
    assert query_string_hash(without["method"], without["url_or_path"]) == without["expected_qsh"]
    body = [tuple(p) for p in with_jwt["body_params"]]
    assert (
        query_string_hash(with_jwt["method"], with_jwt["url_or_path"], body_params=body)
        == with_jwt["expected_qsh"]
    )
    # The jwt body field itself is never part of the hash.
    without_jwt = [p for p in body if p[0] != "jwt"]
    assert (
        query_string_hash(with_jwt["method"], with_jwt["url_or_path"], body_params=without_jwt)
        == with_jwt["expected_qsh"]
    )


def test_body_params_do_not_replace_a_real_query():
    assert canonical_request("POST", "/hook?x=1", body_params=[("y", "2")]) == "POST&/hook&x=1"


# -- hand-written cases (Atlassian's Java reference and the spec) -----------------


@pytest.mark.parametrize(
    ("method", "url", "base_url", "expected"),
    [
        # Java reference: repeated values sorted and joined with ",".
        (
            "GET",
            "/and/more/?last=param%202&foo=humbug&first=param1&last=param%201&foo=bah",
            None,
            "GET&/and/more&first=param1&foo=bah,humbug&last=param%201,param%202",
        ),
        ("GET", "/p?foo=bah%20bah", None, "GET&/p&foo=bah%20bah"),
        ("GET", "/p?foo=bah+bah", None, "GET&/p&foo=bah%20bah"),
        ("GET", "/p?foo=bah%2Bbah", None, "GET&/p&foo=bah%2Bbah"),
        ("GET", "/p?foo=a*b", None, "GET&/p&foo=a%2Ab"),
        ("GET", "/p?foo=a%2Ab", None, "GET&/p&foo=a%2Ab"),
        ("GET", "/p?foo=a~b", None, "GET&/p&foo=a~b"),
        ("GET", "/p?foo=a%7Eb", None, "GET&/p&foo=a~b"),
        ("GET", "/p?foo=a-b.c_d", None, "GET&/p&foo=a-b.c_d"),
        ("GET", "/p?q=%C3%BC", None, "GET&/p&q=%C3%BC"),
        ("GET", "/p?q=ü", None, "GET&/p&q=%C3%BC"),
        ("GET", "/p?%C3%BC=1", None, "GET&/p&%C3%BC=1"),
        ("GET", "/p?e=%F0%9F%98%80", None, "GET&/p&e=%F0%9F%98%80"),
        ("GET", "/p?a=x%26y%3Dz%2C", None, "GET&/p&a=x%26y%3Dz%2C"),
        ("GET", "/p?a=1;b=2", None, "GET&/p&a=1%3Bb%3D2"),
        # Method is upper-cased.
        ("put", "/p", None, "PUT&/p&"),
        # Base path: absolute URL or bare path, stripped at a segment boundary only.
        (
            "GET",
            "/wiki/rest/api/content?x=1",
            "https://acme.atlassian.net/wiki",
            "GET&/rest/api/content&x=1",
        ),
        ("GET", "/wiki/rest/api/content?x=1", "/wiki", "GET&/rest/api/content&x=1"),
        ("GET", "/wiki/rest/api/content?x=1", "/wiki/", "GET&/rest/api/content&x=1"),
        (
            "GET",
            "/wiki/rest/api/content",
            "https://acme.atlassian.net/wiki/",
            "GET&/rest/api/content&",
        ),
        ("GET", "/wikipedia/page", "/wiki", "GET&/wikipedia/page&"),
        ("GET", "/wikipedia/page", "https://acme.atlassian.net/wiki", "GET&/wikipedia/page&"),
        ("GET", "/wiki", "/wiki", "GET&/&"),
        ("GET", "/wiki/", "/wiki", "GET&/&"),
        ("GET", "/other/wiki/x", "/wiki", "GET&/other/wiki/x&"),
        ("GET", "/rest/api", "https://acme.atlassian.net", "GET&/rest/api&"),
        ("GET", "/rest/api", "https://acme.atlassian.net/", "GET&/rest/api&"),
        ("GET", "/rest/api", "", "GET&/rest/api&"),
        # Absolute URL: scheme, host, port, fragment dropped.
        (
            "GET",
            "https://acme.atlassian.net/wiki/rest/api/content?x=1",
            "https://acme.atlassian.net/wiki",
            "GET&/rest/api/content&x=1",
        ),
        (
            "GET",
            "https://acme.atlassian.net:8443/rest/api/2/issue?b=2&a=1",
            None,
            "GET&/rest/api/2/issue&a=1&b=2",
        ),
        ("GET", "http://localhost:2990/jira/x?y=1", "http://localhost:2990/jira", "GET&/x&y=1"),
        ("GET", "https://acme.atlassian.net", None, "GET&/&"),
        ("GET", "https://acme.atlassian.net?a=1", None, "GET&/&a=1"),
        ("GET", "https://acme.atlassian.net/p?a=1#frag", None, "GET&/p&a=1"),
        ("GET", "/p?a=1#frag", None, "GET&/p&a=1"),
        ("GET", "/p#frag?a=1", None, "GET&/p&"),
        # Trailing slash: one is dropped, "/" stays.
        ("GET", "/a/b/", None, "GET&/a/b&"),
        ("GET", "/a/b//", None, "GET&/a/b/&"),
        ("GET", "/", None, "GET&/&"),
        ("GET", "//", None, "GET&/&"),
        # A bare "//host/path" is a path, not a host.
        ("GET", "//evil.example.com/path?x=1", None, "GET&//evil.example.com/path&x=1"),
        ("GET", "relative/path", None, "GET&/relative/path&"),
        ("GET", "?a=1", None, "GET&/&a=1"),
        # "&" in the path is encoded; nothing else in the path is.
        ("GET", "/path!$&'()*+,;=", None, "GET&/path!$%26'()*+,;=&"),
        ("GET", "/a%20b/c", None, "GET&/a%20b/c&"),
        # jwt is dropped, other names (also "JWT") are not.
        ("GET", "/p?jwt=abc&a=1&jwt=def", None, "GET&/p&a=1"),
        ("GET", "/p?JWT=abc", None, "GET&/p&JWT=abc"),
        ("GET", "/p?jwt", None, "GET&/p&"),
        # Names without "=" have the empty value; empty pairs vanish.
        ("GET", "/p?a&&b=", None, "GET&/p&a=&b="),
        ("GET", "/p?=v", None, "GET&/p&=v"),
    ],
)
def test_canonical_request_cases(method, url, base_url, expected):
    assert canonical_request(method, url, base_url) == expected
    assert (
        query_string_hash(method, url, base_url)
        == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    )


def test_spec_worked_examples():
    assert (
        canonical_request(
            "GET",
            "/path/to/service?zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202",
        )
        == "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"
    )
    assert canonical_request("get", "/hello-world?a&b=foo&c") == "GET&/hello-world&a=&b=foo&c="
    assert (
        canonical_request("POST", "/jira/rest/api/2/project/jira&a=b?x=y", "/jira")
        == "POST&/rest/api/2/project/jira%26a=b&x=y"
    )
    assert canonical_request("GET", "") == "GET&/&"


def test_names_are_sorted_by_their_encoded_form():
    # "ü" sorts after "~" as text, but its encoding "%C3%BC" sorts before "~a".
    assert canonical_query([("~a", "2"), ("ü", "1"), ("b", "3"), ("A", "4")]) == (
        "%C3%BC=1&A=4&b=3&~a=2"
    )


def test_values_are_sorted_in_java_utf16_order():
    # U+1F600 is a surrogate pair (D83D...) in UTF-16 and so sorts before U+FFFD,
    # although its code point is larger.
    assert canonical_query([("v", "\ufffd"), ("v", "\U0001f600")]) == "v=%F0%9F%98%80,%EF%BF%BD"
    # Upper case before lower case, as Java's String.compareTo.
    assert canonical_query([("v", "b"), ("v", "a"), ("v", "B")]) == "v=B,a,b"


def test_percent_encode_keeps_only_unreserved_characters():
    unreserved = "ABCXYZabcxyz0189-._~"
    assert percent_encode(unreserved) == unreserved
    assert percent_encode(" +*/?&=,%:@!$'()") == "%20%2B%2A%2F%3F%26%3D%2C%25%3A%40%21%24%27%28%29"
    assert percent_encode("é") == "%C3%A9"


def test_split_url_and_canonical_path_helpers():
    assert split_url("https://h.example:444/a/b?x=1#f") == ("/a/b", "x=1")
    assert split_url("/a/b?x=1#f") == ("/a/b", "x=1")
    assert split_url("//h/a?x") == ("//h/a", "x")
    assert canonical_path("/wiki/x/", "/wiki") == "/x"
    assert canonical_path("", None) == "/"
    assert canonical_path("/a&b", None) == "/a%26b"


@pytest.mark.parametrize(
    "url",
    ["http://[", "http://[abc]/x?a=1", "https://[::1", "http://[/p?x=1", "https://h:notaport/p"],
)
def test_unparseable_hosts_do_not_raise(url):
    # urlsplit() refuses these; the canonical request must still be computed.
    result = canonical_request("GET", url, url)
    assert result.startswith("GET&/")
    assert HEX64.match(query_string_hash("GET", url))


def test_bracket_host_keeps_path_and_query():
    assert canonical_request("GET", "http://[bad/p/q?b=2&a=1#x") == "GET&/p/q&a=1&b=2"


def test_lone_surrogates_do_not_raise():
    # Not valid text, but a str a caller may pass: hashed, never an exception.
    assert HEX64.match(query_string_hash("GET", "/a\ud800b?x=\udfff"))
    assert query_string_hash("GET", "/a\ud800") != query_string_hash("GET", "/a\ud801")
    assert canonical_request("GET", "/p?x=\ud800") == "GET&/p&x=%3F"


def test_context_qsh_is_not_a_hash():
    assert CONTEXT_QSH == "context-qsh"
    assert not HEX64.match(CONTEXT_QSH)


# -- properties --------------------------------------------------------------------

# Names and values: any text, including the characters the encoding cares about.
# Valid text (no lone surrogates: those cannot be put into a URL).
chars = st.characters(codec="utf-8")
text = st.text(alphabet=st.one_of(chars, st.sampled_from("&=+%#?;,/ ~*")), max_size=12)
names = text.filter(lambda n: n != "jwt")
pairs = st.lists(st.tuples(names, text), max_size=8)
path_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="?#"), max_size=20)


def build_url(path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params, quote_via=quote, safe="")
    return f"{path}?{query}" if query else path


PROPERTY_SETTINGS = settings(max_examples=500, deadline=None)


@PROPERTY_SETTINGS
@given(
    path=path_text,
    params=pairs,
    jwt_value=text,
    data=st.data(),
)
def test_jwt_parameter_never_changes_the_hash(path, params, jwt_value, data):
    path = "/" + path
    position = data.draw(st.integers(min_value=0, max_value=len(params)))
    with_jwt = [*params[:position], ("jwt", jwt_value), *params[position:]]
    expected = query_string_hash("GET", build_url(path, params))
    assert query_string_hash("GET", build_url(path, with_jwt)) == expected
    # Also more than once, and in the form body of ACE's compatibility mode.
    twice = [("jwt", jwt_value), *with_jwt, ("jwt", "x")]
    assert query_string_hash("GET", build_url(path, twice)) == expected
    assert query_string_hash("POST", path, body_params=with_jwt) == query_string_hash(
        "POST", path, body_params=params
    )


@PROPERTY_SETTINGS
@given(path=path_text, params=pairs, data=st.data())
def test_parameter_order_never_changes_the_hash(path, params, data):
    path = "/" + path
    shuffled = data.draw(st.permutations(params))
    assert query_string_hash("GET", build_url(path, shuffled)) == query_string_hash(
        "GET", build_url(path, params)
    )
    assert canonical_query(shuffled) == canonical_query(params)


@PROPERTY_SETTINGS
@given(
    prefix=path_text,
    moved=path_text,
    rest=pairs,
    base_url=st.sampled_from([None, "/wiki", "https://acme.atlassian.net/wiki"]),
)
@example(prefix="rest/api/2/project", moved="a=b", rest=[("x", "y")], base_url=None)
@example(prefix="wiki", moved="", rest=[], base_url="/wiki")
def test_ampersand_in_path_never_collides_with_the_query(prefix, moved, rest, base_url):
    path = "/" + prefix
    query = urlencode(rest, quote_via=quote, safe="")
    in_path = f"{path}&{moved}" + (f"?{query}" if query else "")
    in_query = f"{path}?{moved}" + (f"&{query}" if query else "")
    assert canonical_request("POST", in_path, base_url) != canonical_request(
        "POST", in_query, base_url
    )
    assert query_string_hash("POST", in_path, base_url) != query_string_hash(
        "POST", in_query, base_url
    )


urlish = st.one_of(
    st.text(),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["http", "https", "HTTP", "x-y+z"]),
        st.text(alphabet=st.one_of(st.characters(), st.sampled_from("[]:@/?#&=%")), max_size=30),
    ),
)


@PROPERTY_SETTINGS
@given(method=st.text(max_size=8), url=urlish, base_url=st.one_of(st.none(), urlish))
@example(method="GET", url="http://[", base_url=None)
@example(method="GET", url="/x", base_url="https://[::1")
def test_hash_is_always_64_lowercase_hex(method, url, base_url):
    assert HEX64.match(query_string_hash(method, url, base_url))


@PROPERTY_SETTINGS
@given(method=st.text(), url=urlish, base_url=st.one_of(st.none(), urlish))
@example(method="get", url="http://[abc]/x", base_url="http://[")
def test_canonical_request_never_raises(method, url, base_url):
    result = canonical_request(method, url, base_url)
    assert result.startswith(method.upper() + "&/")


@PROPERTY_SETTINGS
@given(params=pairs)
def test_canonical_query_uses_only_unreserved_characters_and_separators(params):
    query = canonical_query(params)
    assert re.fullmatch(r"[A-Za-z0-9._~%=&,-]*", query)
    # Every escape is an upper-case %XX.
    assert all(re.fullmatch(r"%[0-9A-F]{2}", m) for m in re.findall(r"%..", query))
