"""Property-based fuzzing of the qsh canonicaliser: never raises; signer and verifier agree."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_atlassian_connect.qsh import canonical_request, hash_canonical_request
from tests.security.fuzz_support import EXAMPLES_RUN, fuzz

pytestmark = [
    pytest.mark.fuzz,
    # Short and empty secrets are part of the input space here.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


# -- the qsh canonicaliser ------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)  # surrogates too


@fuzz(1500)
@given(
    method=any_text,
    url=st.one_of(any_text, any_text.map(lambda t: "https://" + t)),
    base_url=st.one_of(st.none(), any_text, st.just("/wiki")),
    body=st.one_of(st.none(), st.lists(st.tuples(any_text, any_text), max_size=5)),
)
def test_canonical_request_never_raises(method, url, base_url, body):
    EXAMPLES_RUN["qsh canonicaliser"] = EXAMPLES_RUN.get("qsh canonicaliser", 0) + 1
    canonical = canonical_request(method, url, base_url, body_params=body)
    assert canonical.startswith(method.upper() + "&/")
    assert len(hash_canonical_request(canonical)) == 64


segment = st.text(
    alphabet=st.one_of(
        st.sampled_from("ABCXYZabcxyz0189-._~"),
        st.characters(
            min_codepoint=0xA1,
            max_codepoint=0x2FFF,
            blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
        ),
    ),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
query_pairs = st.lists(
    st.tuples(
        st.text(max_size=8).filter(lambda n: n != "jwt"),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    ),
    max_size=6,
)


@pytest.mark.django_db
@fuzz(500)
@given(
    segments=st.lists(segment, min_size=1, max_size=3), params=query_pairs, jwt_first=st.booleans()
)
def test_a_token_minted_for_any_url_verifies_on_that_url(
    installed_site, segments, params, jwt_first
):
    """The signer's qsh and the verifier's agree for any path and query."""
    EXAMPLES_RUN["qsh signer = verifier"] = EXAMPLES_RUN.get("qsh signer = verifier", 0) + 1
    path = "/page/" + "/".join(quote(s, safe="") for s in segments)
    query = urlencode(params, quote_via=quote, safe="")
    url = f"{path}?{query}" if query else path
    token = installed_site.page_token(url)
    jwt_param = urlencode({"jwt": token})
    if jwt_first:
        full = f"{path}?{jwt_param}" + (f"&{query}" if query else "")
    else:
        full = f"{url}{'&' if query else '?'}{jwt_param}"
    response = installed_site.client.get(full)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["clientKey"] == installed_site.client_key
