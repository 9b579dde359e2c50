"""diagnostics.py: the qsh mistake search, the endpoint kind and the small helpers."""

from __future__ import annotations

import pytest

from django_atlassian_connect import diagnostics
from django_atlassian_connect.qsh import canonical_request, hash_canonical_request

# -- the qsh mistake search -------------------------------------------------------------

WIKI = "https://example.atlassian.net/wiki"


@pytest.mark.parametrize(
    ("method", "url", "base_url", "signer_canonical", "cause"),
    [
        (
            "GET",
            "/wiki/rest/api/content?t=a",
            WIKI,
            "GET&/wiki/rest/api/content&t=a",
            "wiki_in_qsh",
        ),
        # The URL given without /wiki, the signer added it.
        ("GET", "/rest/api/content", WIKI, "GET&/wiki/rest/api/content&", "wiki_in_qsh"),
        (
            "GET",
            "/myapp/page",
            "https://app.example.com/myapp",
            "GET&/myapp/page&",
            "base_path_included",
        ),
        ("GET", "/s?q=a%20b", None, "GET&/s&q=a+b", "plus_for_space"),
        ("GET", "/s?q=a+b", None, "GET&/s&q=a+b", "plus_for_space"),
        ("GET", "/s?b=2&a=1", None, "GET&/s&b=2&a=1", "unsorted_query"),
        ("GET", "/s?r=b&r=a", None, "GET&/s&r=b&r=a", "unsorted_query"),
        ("GET", "/s?a=1&jwt=xyz", None, "GET&/s&a=1&jwt=xyz", "jwt_param_hashed"),
        ("GET", "/s/", None, "GET&/s/&", "trailing_slash_kept"),
        ("GET", "/issue/A%2FB", None, "GET&/issue/A/B&", "decoded_path"),
        ("GET", "/issue/a b", None, "GET&/issue/a%20b&", "encoded_path"),
        ("GET", "/s?q=%7euser", None, "GET&/s&q=%7euser", "query_not_decoded"),
        ("GET", "/s?a=1", None, "GET&/s&", "query_omitted"),
        ("POST", "/s?a=1", None, "GET&/s&a=1", "wrong_method"),
        ("GET", "/s?b=x%20y&a=1", None, "GET&/s&b=x+y&a=1", "unsorted_query+plus_for_space"),
        ("GET", "/wiki/x?b=1&a=2", WIKI, "GET&/wiki/x&b=1&a=2", "wiki_in_qsh+unsorted_query"),
    ],
)
def test_find_qsh_mistake(method, url, base_url, signer_canonical, cause):
    variant = diagnostics.find_qsh_mistake(
        hash_canonical_request(signer_canonical), method, url, base_url
    )
    assert variant is not None and variant.canonical == signer_canonical
    assert variant.cause == cause
    assert variant.describe()


def test_qsh_variants_start_with_the_right_request():
    variants = diagnostics.qsh_variants("get", "/s?b=2&a=1&jwt=t", "https://x.example/base")
    assert variants[0].mistakes == ()
    assert variants[0].canonical == canonical_request("GET", "/s?b=2&a=1&jwt=t")
    assert len({v.canonical for v in variants}) == len(variants)
    assert [len(v.mistakes) for v in variants] == sorted(len(v.mistakes) for v in variants)


def test_find_qsh_mistake_right_and_unknown():
    right = diagnostics.find_qsh_mistake(
        hash_canonical_request("GET&/s&a=1"), "GET", "https://h.example/s?a=1"
    )
    assert right is not None and right.mistakes == ()
    assert diagnostics.find_qsh_mistake("0" * 64, "GET", "/s?a=1") is None


def test_endpoint_kind_reads_the_urlconf():
    assert diagnostics.endpoint_kind("/page")[0] == "request"
    assert diagnostics.endpoint_kind("/page/x/y?a=1")[0] == "request"
    assert diagnostics.endpoint_kind("/context")[0] == "context"
    assert diagnostics.endpoint_kind("/drf/context") == ("context", "drf-context")
    assert diagnostics.endpoint_kind("https://app.example.com/drf/page")[0] == "request"
    assert diagnostics.endpoint_kind("/installed")[0] == "request"
    assert diagnostics.endpoint_kind("/no/such/page") == (None, "")


def test_token_prefix_never_shows_a_usable_token():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    shown = diagnostics.token_prefix(token)
    assert shown.startswith(token[:12]) and token not in shown and f"{len(token)} chars" in shown
    assert diagnostics.token_prefix("short") == "…"


def test_split_scheme():
    assert diagnostics.split_scheme("JWT abc") == ("abc", "jwt")
    assert diagnostics.split_scheme("Authorization: Bearer abc") == ("abc", "bearer")
    assert diagnostics.split_scheme("  abc ") == ("abc", None)


def test_finding_rejects_an_unknown_severity_and_takes_default_hints():
    with pytest.raises(ValueError):
        diagnostics.Finding("x", "fatal", "m")
    assert diagnostics.Finding("qsh_mismatch", "error", "m").hint.startswith("The token's qsh")
    assert "ACT_AS_USER" in diagnostics.Finding("act_as_user_missing", "error", "m").hint
    assert diagnostics.Finding("qsh_valid", "ok", "m").hint == ""
