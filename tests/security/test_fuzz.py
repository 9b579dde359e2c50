"""Property-based fuzzing: the token parser, the qsh canonicaliser, lifecycle payloads, the views.

Whatever arrives, the answer is a result or a :class:`ConnectAuthError` with a
documented code, never another exception, and the views never answer 500.

The default profile runs thousands of examples (about 10,000 in all) so
``make test`` stays fast. ``-m fuzz`` or ``HYPOTHESIS_PROFILE=fuzz`` runs
twenty times as many.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_atlassian_connect.connect import install_keys
from django_atlassian_connect.connect.lifecycle import PAYLOAD_FIELDS, parse_payload
from django_atlassian_connect.exceptions import CODES, ConnectAuthError
from django_atlassian_connect.qsh import (
    CONTEXT_QSH,
    canonical_request,
    hash_canonical_request,
    query_string_hash,
)
from django_atlassian_connect.testing import request_token
from django_atlassian_connect.tokens import (
    SecretCandidate,
    check_audience,
    check_qsh,
    check_times,
    parse_token,
    require_algorithm,
    verify_hs256_with_secrets,
    verify_rs256,
)
from tests.conftest import APP_BASE_URL, APP_KEY, db_snapshot

pytestmark = [
    pytest.mark.fuzz,
    # Short and empty secrets are part of the input space here.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1
EXAMPLES_RUN: dict[str, int] = {}


def fuzz(examples: int, **kwargs: Any) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
        **kwargs,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- strategies ------------------------------------------------------------------------

# Any text, NUL characters and unpaired surrogates ("\ud800") included.
weird_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30)
# Any JSON value, the odd numbers included (NaN, infinities, 400-digit integers).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=30),
    weird_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
now = int(time.time())
times = st.one_of(
    st.integers(min_value=-600, max_value=600).map(lambda d: now + d),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    json_values,
)
kids = st.one_of(
    st.uuids().map(str),
    st.text(max_size=40),
    st.sampled_from(["../x", "a%2Fb", "https://evil.example.com/k", "k" * 200, "a..b", "a\n"]),
    json_values,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.one_of(
            st.sampled_from(["HS256", "RS256", "none", "None", "HS512", "ES256"]), json_values
        ),
        "kid": kids,
        "typ": json_values,
    },
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.one_of(st.text(max_size=300), weird_text, json_values),
        "sub": json_values,
        "iat": times,
        "exp": times,
        "nbf": times,
        "qsh": st.one_of(st.just(CONTEXT_QSH), st.text(max_size=70), json_values),
        "aud": st.one_of(st.just(APP_BASE_URL), st.text(max_size=40), json_values),
        "context": json_values,
    },
)


def _json_segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


structured_tokens = st.builds(
    lambda h, c, sig: f"{_json_segment(h)}.{_json_segment(c)}.{sig}",
    st.one_of(headers, json_values),
    st.one_of(claims, json_values),
    st.one_of(st.binary(max_size=300).map(b64), st.text(max_size=20), st.just("")),
)
raw_tokens = st.one_of(
    st.text(max_size=200),
    st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=+/.!", max_size=40), max_size=5).map(
        ".".join
    ),
    st.lists(st.binary(max_size=60).map(b64), min_size=1, max_size=5).map(".".join),
)
any_token = st.one_of(structured_tokens, raw_tokens)


def assert_documented(error: ConnectAuthError) -> None:
    assert error.code in CODES
    assert error.detail and error.hint
    assert error.status_code in (401, 413, 503)


# -- the token parser and every check -------------------------------------------------------


@fuzz(2000)
@given(token=any_token)
@example(token="a.b.c")
@example(token=f"{_json_segment({'alg': 'HS256'})}.{_json_segment({'iat': 1e400})}.")
@example(token=f"{_json_segment({'alg': 'HS256'})}.{_json_segment({'exp': float('nan')})}.")
def test_token_parser_and_checks_raise_only_documented_errors(token, install_key):
    EXAMPLES_RUN["token parser and checks"] = EXAMPLES_RUN.get("token parser and checks", 0) + 1
    try:
        parsed = parse_token(token)
    except ConnectAuthError as error:
        assert error.code == "token_malformed"
        return
    assert isinstance(parsed.header, dict) and isinstance(parsed.claims, dict)
    candidates = [
        SecretCandidate("s" * 40, "sha256:current"),
        SecretCandidate("r" * 40, "old", now - 60),
    ]
    checks = [
        lambda: require_algorithm(parsed, "HS256"),
        lambda: check_times(parsed, now=time.time(), leeway=30),
        lambda: check_audience(parsed, [APP_BASE_URL]),
        lambda: check_qsh(parsed, context=False, matches=lambda q: q == "abc"),
        lambda: check_qsh(parsed, context=True),
        lambda: verify_hs256_with_secrets(parsed, candidates, now=time.time()),
        lambda: verify_rs256(parsed, install_key.public_pem),
        lambda: install_keys.validate_kid(parsed.header.get("kid")),
    ]
    for check in checks:
        try:
            check()
        except ConnectAuthError as error:
            assert_documented(error)


@fuzz(1000)
@given(kid=kids)
def test_kid_validation_never_lets_a_path_or_url_through(kid):
    EXAMPLES_RUN["kid validation"] = EXAMPLES_RUN.get("kid validation", 0) + 1
    try:
        valid = install_keys.validate_kid(kid)
    except ConnectAuthError as error:
        assert error.code == "key_invalid"
        return
    assert valid == kid and len(valid) <= 128
    assert not any(bad in valid for bad in ("/", "%", "..", "\\", "?", "#", ":", "\n"))
    # The key URL is the configured root plus one path segment: no way out of it.
    from django_atlassian_connect.conf import connect_settings

    root = connect_settings.INSTALL_KEYS_URL.rstrip("/")
    url = install_keys.key_url(valid, "https://acme.atlassian.net")
    assert url == f"{root}/{valid}"
    assert urlsplit(url).netloc == urlsplit(root).netloc


@fuzz(500)
@given(
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    secret=st.text(min_size=1, max_size=60),
)
def test_minted_tokens_round_trip_through_the_parser(data, secret):
    EXAMPLES_RUN["mint round trip"] = EXAMPLES_RUN.get("mint round trip", 0) + 1
    reserved = {"iss", "iat", "exp", "qsh", "context", "sub", "client_key", "secret", "method"}
    reserved |= {"url", "app_base_url", "account_id", "now", "lifetime"}
    claims = {k: v for k, v in data.items() if k not in reserved}
    try:
        json.dumps(claims, allow_nan=False)
    except ValueError:
        return  # PyJWT refuses NaN
    token = request_token(client_key="c", secret=secret, method="GET", url="/x", **claims)
    # The parser keeps any JSON text; only the issuer, which is looked up in the
    # database before verification, is refused when no column could store it.
    parsed = parse_token(token)
    assert {k: parsed.claims[k] for k in claims} == claims
    verify_hs256_with_secrets(parsed, [SecretCandidate(secret, "fp")])


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


# -- lifecycle payloads -----------------------------------------------------------------------

payload_values = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=30, max_value=600).map(lambda n: "x" * n),  # around the limits
    st.sampled_from(
        [
            "https://x.atlassian.net",
            "ftp://x",
            "https://[bad",
            "http://",
            "https://ok.atlassian.net/wiki",
        ]
    ),
    json_values,
)
payloads = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            name: payload_values
            for name in (
                "key",
                "clientKey",
                "baseUrl",
                "sharedSecret",
                "eventType",
                *PAYLOAD_FIELDS,
            )
        },
    ),
    json_values,
)


@fuzz(2000)
@given(
    body=st.one_of(payloads.map(lambda p: json.dumps(p).encode()), st.binary(max_size=200)),
    event=st.sampled_from(["installed", "uninstalled", "enabled", "disabled"]),
)
@example(body=b"[" * 100_000, event="installed")
@example(
    body=b'{"key": "k", "clientKey": "c", "baseUrl": "https://[x", "sharedSecret": "s"}',
    event="installed",
)
def test_lifecycle_payload_validation(body, event):
    EXAMPLES_RUN["lifecycle payload"] = EXAMPLES_RUN.get("lifecycle payload", 0) + 1
    try:
        payload = parse_payload(body, event)
    except ConnectAuthError as error:
        assert error.code == "payload_invalid"
        assert_documented(error)
        return
    required = ["key", "clientKey", "baseUrl"] + (["sharedSecret"] if event == "installed" else [])
    for name in required:
        assert isinstance(payload[name], str) and payload[name].strip()
    for name in ("clientKey", "sharedSecret", *PAYLOAD_FIELDS):
        assert payload.get(name) is None or isinstance(payload[name], str)
    assert payload.get("eventType") in (None, event)
    assert urlsplit(payload["baseUrl"]).scheme in ("http", "https")
    assert urlsplit(payload["baseUrl"]).hostname


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
