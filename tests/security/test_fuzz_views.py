"""Property-based fuzzing of the views: never a 500, whatever the request or the signed token.

Its last test reports how many examples the fuzz modules ran.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from django_atlassian_connect.exceptions import CODES
from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from tests.conftest import APP_BASE_URL, APP_KEY, db_snapshot
from tests.security.fuzz_support import (
    EXAMPLES_RUN,
    SCALE,
    any_token,
    claims,
    fuzz,
    kids,
    payload_values,
    payloads,
    weird_text,
)

pytestmark = [
    pytest.mark.fuzz,
    # Short and empty secrets are part of the input space here.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


# -- the views: never a 500 ---------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/page"),
    ("POST", "/hook"),
    ("GET", "/context"),
    ("GET", "/drf/page"),
    ("POST", "/drf/page"),
    ("GET", "/drf/context"),
    ("GET", "/drf/mixed"),
    ("POST", "/installed"),
    ("POST", "/uninstalled"),
    ("POST", "/enabled"),
    ("POST", "/disabled"),
]
latin1 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
schemes = st.sampled_from(["JWT", "jwt", "Bearer", "Basic", "JWT  ", ""])
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)


@st.composite
def requests_(draw: Any) -> dict[str, Any]:
    method, path = draw(st.sampled_from(ENDPOINTS))
    token = draw(any_token)
    where = draw(st.sets(st.sampled_from(["header", "query", "query2", "form"]), max_size=3))
    extra = {}
    if "header" in where:
        extra["HTTP_AUTHORIZATION"] = f"{draw(schemes)} {token}".encode("utf-8", "replace").decode(
            "latin-1"
        )
    elif draw(st.booleans()):
        extra["HTTP_AUTHORIZATION"] = draw(latin1)
    params = draw(st.lists(st.tuples(st.text(max_size=6), st.text(max_size=10)), max_size=4))
    if "query" in where:
        params.append(("jwt", token))
    if "query2" in where:
        params.append(("jwt", draw(any_token)))
    query = urlencode(params, quote_via=quote, safe="")
    content_type = draw(content_types)
    if "form" in where:
        content_type = "application/x-www-form-urlencoded"
        body = urlencode(
            [
                ("jwt", token),
                *draw(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3)),
            ]
        ).encode()
    else:
        body = draw(
            st.one_of(payloads.map(lambda p: json.dumps(p).encode()), st.binary(max_size=300))
        )
    return {
        "method": method,
        "path": path + (f"?{query}" if query else ""),
        "data": body,
        "content_type": content_type,
        **extra,
    }


def assert_no_500(response: Any, path: str) -> None:
    assert response.status_code < 500 or response.status_code == 503, (path, response.status_code)
    if response.status_code in (401, 413, 503) and not path.startswith("/drf/"):
        body = response.json()
        assert body["code"] in CODES, body
        assert body["detail"] and body["hint"]


@pytest.mark.django_db
@fuzz(1000)
@given(request=requests_())
def test_views_never_answer_500(installed_site, request):
    EXAMPLES_RUN["views, any request"] = EXAMPLES_RUN.get("views, any request", 0) + 1
    response = installed_site.client.generic(**request)
    assert_no_500(response, request["path"])


def _mutated(base: dict[str, Any], mutations: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    claims = {k: v for k, v in base.items() if k not in drop}
    claims.update(mutations)
    return claims


@pytest.mark.django_db
@fuzz(400)
@given(
    event=st.sampled_from(["installed", "uninstalled"]),
    client_key=st.one_of(
        st.sampled_from(["jira:fuzz-a", "jira:fuzz-b"]),
        st.text(min_size=1, max_size=40),
        weird_text.filter(bool),
    ),
    token_claims=claims,
    drop=st.sets(st.sampled_from(["iss", "iat", "exp", "qsh", "aud"]), max_size=2),
    body_changes=st.fixed_dictionaries(
        {},
        optional={
            name: payload_values
            for name in (
                "key",
                "baseUrl",
                "sharedSecret",
                "oauthClientId",
                "description",
                "productType",  # varchar(32)
                "serverVersion",  # varchar(64)
                "pluginsVersion",
            )
        },
    ),
    kid=st.one_of(st.none(), kids),
)
@example(
    event="installed",
    client_key="jira:fuzz-a",
    token_claims={"iat": -(10**15)},
    drop=set(),
    body_changes={},
    kid=None,
)
@example(
    event="installed",
    client_key="jira:fuzz-a",
    token_claims={"iat": 10**15},
    drop=set(),
    body_changes={},
    kid=None,
)
def test_signed_lifecycle_deliveries_never_500_and_refusals_change_nothing(
    client, install_key, db, event, client_key, token_claims, drop, body_changes, kid
):
    """Validly signed install tokens with fuzzed claims and bodies."""
    EXAMPLES_RUN["signed lifecycle deliveries"] = (
        EXAMPLES_RUN.get("signed lifecycle deliveries", 0) + 1
    )
    issued = int(time.time())
    base = {
        "iss": client_key,
        "aud": [APP_BASE_URL],
        "iat": issued,
        "exp": issued + 180,
        "qsh": query_string_hash("POST", f"/{event}", APP_BASE_URL),
        "context": {},
    }
    # Keep only the mutations of a few claims, so most tokens get far into the checks.
    mutations = dict(list(token_claims.items())[:2])
    payload = {
        "key": APP_KEY,
        "clientKey": client_key,
        "baseUrl": "https://fuzz.atlassian.net",
        "productType": "jira",
        "eventType": event,
        **({"sharedSecret": "ATCO-fuzz-" + uuid.uuid4().hex} if event == "installed" else {}),
        **body_changes,
    }
    try:
        token = jwt.encode(
            _mutated(base, mutations, drop),
            install_key.private_key,  # the key object: parsing the PEM each time is slow
            algorithm="RS256",
            headers={"kid": install_key.kid if kid is None else kid},
        )
    except (TypeError, ValueError, jwt.PyJWTError):
        return  # PyJWT cannot encode it (NaN, a non-str kid): nobody sends it this way
    try:
        data = json.dumps(payload)
    except (TypeError, ValueError):
        return
    before = db_snapshot()
    response = client.post(
        f"/{event}", data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )
    assert_no_500(response, f"/{event}")
    if response.status_code != 204:
        assert db_snapshot() == before
    elif event == "installed":
        from django_atlassian_connect.models import Tenant

        tenant = Tenant.objects.get(client_key=client_key)
        assert tenant.is_installed
        assert tenant.current_secret.secret == payload["sharedSecret"]


@pytest.mark.django_db
@fuzz(600)
@given(
    path=st.sampled_from(["/page", "/hook", "/context", "/drf/page", "/drf/context"]),
    token_claims=claims,
    drop=st.sets(st.sampled_from(["iss", "iat", "exp", "qsh"]), max_size=2),
    wrong_secret=st.booleans(),
)
def test_tenant_signed_tokens_with_fuzzed_claims_never_500(
    installed_site, path, token_claims, drop, wrong_secret
):
    EXAMPLES_RUN["tenant-signed tokens"] = EXAMPLES_RUN.get("tenant-signed tokens", 0) + 1
    method = "POST" if path == "/hook" else "GET"
    issued = int(time.time())
    base = {
        "iss": installed_site.client_key,
        "sub": "5b10ac8d82e05b22cc7d4ef5",
        "iat": issued,
        "exp": issued + 180,
        "qsh": CONTEXT_QSH if "context" in path else query_string_hash(method, path, APP_BASE_URL),
        "context": {},
    }
    claims_ = _mutated(base, dict(list(token_claims.items())[:2]), drop)
    try:
        token = jwt.encode(
            claims_,
            "ATCO-wrong-" + "w" * 30 if wrong_secret else installed_site.secret,
            algorithm="HS256",
        )
    except (TypeError, ValueError, jwt.PyJWTError):
        return
    response = installed_site.client.generic(method, path, HTTP_AUTHORIZATION=f"JWT {token}")
    assert_no_500(response, path)
    if response.status_code == 200:
        assert not wrong_secret
        assert response.json()["clientKey"] == installed_site.client_key


def test_fuzz_examples_were_run():
    """Reports how many examples ran (``-s``); the suite above must have run thousands."""
    total = sum(EXAMPLES_RUN.values())
    print(f"\nfuzz examples run: {total} {EXAMPLES_RUN}")
    if len(EXAMPLES_RUN) == 9:  # the whole module ran
        assert total >= 5000 * SCALE
