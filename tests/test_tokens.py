"""tokens.py: parse, algorithm, times, qsh rule, audience, signatures, minting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.qsh import CONTEXT_QSH, query_string_hash
from django_atlassian_connect.testing import (
    InstallKeyPair,
    context_token,
    install_token,
    request_token,
)
from django_atlassian_connect.tokens import (
    ParsedToken,
    SecretCandidate,
    check_audience,
    check_qsh,
    check_times,
    encode_app_token,
    encode_hs256,
    parse_token,
    require_algorithm,
    require_claims,
    verify_hs256_with_secrets,
    verify_rs256,
)

SHARED_VECTORS = Path(__file__).parents[2] / "shared/vectors/qsh-public.json"
LOCAL_VECTORS = Path(__file__).parent / "data/qsh-public.json"


def load_vectors() -> list[dict[str, Any]]:
    path = SHARED_VECTORS if SHARED_VECTORS.exists() else LOCAL_VECTORS
    return json.loads(path.read_text(encoding="utf-8"))


SIGNED_VECTORS = [v for v in load_vectors() if "jwt" in v and "shared_secret" in v]

NOW = 1_700_000_000.0
SECRET = "ATCO-current-secret-0123456789-abcdefghijkl"
OLD_SECRET = "ATCO-retired-secret-9876543210-abcdefghijkl"


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_token(header: Any, claims: Any, signature: bytes = b"sig") -> str:
    def part(value: Any) -> str:
        return b64(value if isinstance(value, (bytes, str)) else json.dumps(value))

    return f"{part(header)}.{part(claims)}.{b64(signature) if signature else ''}"


def hs_token(claims: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": "jira:client-1",
        "iat": int(NOW),
        "exp": int(NOW) + 180,
        "qsh": query_string_hash("GET", "/page?a=1"),
        "sub": "account-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def parsed(**overrides: Any) -> ParsedToken:
    return parse_token(hs_token(claims(**overrides)))


def assert_code(excinfo: pytest.ExceptionInfo[ConnectAuthError], code: str) -> ConnectAuthError:
    error = excinfo.value
    assert error.code == code, (error.code, error.detail)
    assert error.detail
    assert error.hint
    return error


@pytest.fixture(scope="module")
def other_key() -> InstallKeyPair:
    return InstallKeyPair()


# -- parse_token -----------------------------------------------------------------


def test_parse_token_decodes_header_claims_and_signature():
    token = hs_token(claims(), kid="k1")
    result = parse_token(token)
    assert result.header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert result.claims == claims()
    assert result.alg == "HS256"
    assert result.issuer == "jira:client-1"
    head, body, sig = token.split(".")
    assert result.signing_input == f"{head}.{body}".encode("ascii")
    assert result.signature == base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    # The signature and signing input stay out of repr().
    assert sig not in repr(result) and "signing_input" not in repr(result)


def test_parse_token_accepts_an_empty_signature_for_the_algorithm_check_to_refuse():
    token = raw_token({"alg": "none"}, claims(), signature=b"")
    assert token.endswith(".")
    result = parse_token(token)
    assert result.signature == b""
    assert result.alg == "none"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig.extra",
    ],
)
def test_parse_token_wrong_part_count(token):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    error = assert_code(excinfo, "token_malformed")
    assert "three" in error.detail


@pytest.mark.parametrize(
    "token",
    [
        "!!!.e30.c2ln",  # not base64url
        "eyJhbGciOiJIUzI1NiJ9.e3+.c2ln",  # "+" is standard base64, not base64url
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",  # padding is not part of base64url
        "eyJhbGciOiJIUzI1NiJ9.abcde.c2ln",  # 5 characters cannot be base64
        ".e30.c2ln",  # empty header
        "eyJhbGciOiJIUzI1NiJ9..c2ln",  # empty claims
        "eyJhbGciOiJIUzI1NiJ9.e30.c2l*",  # bad signature part
        "eyJhbGciOiJIUzI1NiJ9.e3 0.c2ln",
    ],
)
def test_parse_token_bad_base64(token):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    assert_code(excinfo, "token_malformed")


@pytest.mark.parametrize(
    ("header", "body", "words"),
    [
        ("not json", {"iss": "x"}, "header is not valid JSON"),
        ({"alg": "HS256"}, "not json", "claims is not valid JSON"),
        (b"\xff\xfe{}", {"iss": "x"}, "header is not valid JSON"),
        ({"alg": "HS256"}, b'{"iss": "\xff"}', "claims is not valid JSON"),
        ({"alg": "HS256"}, [1, 2], "claims is not a JSON object"),
        ({"alg": "HS256"}, "42", "claims is not a JSON object"),
        ({"alg": "HS256"}, "null", "claims is not a JSON object"),
        ({"alg": "HS256"}, '"a string"', "claims is not a JSON object"),
        ('"HS256"', {"iss": "x"}, "header is not a JSON object"),
        ("[]", {"iss": "x"}, "header is not a JSON object"),
    ],
)
def test_parse_token_non_json_or_non_object(header, body, words):
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(raw_token(header, body))
    error = assert_code(excinfo, "token_malformed")
    assert words in error.detail


def test_parse_token_deeply_nested_json_is_malformed_not_a_crash():
    # json.loads raises RecursionError for deep nesting; the token fits the length limit.
    token = raw_token({"alg": "HS256"}, "[" * 5000 + "]" * 5000)
    assert len(token) < 16384
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token)
    assert_code(excinfo, "token_malformed")


def test_parse_token_length_limit():
    token = hs_token(claims())
    assert parse_token(token, max_length=len(token)).claims == claims()
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token(token, max_length=len(token) - 1)
    error = assert_code(excinfo, "token_malformed")
    assert str(len(token)) in error.detail
    with pytest.raises(ConnectAuthError) as excinfo:
        parse_token("a" * 16385)
    assert "16384" in assert_code(excinfo, "token_malformed").detail


# -- algorithm --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "expected"),
    [
        ("none", "HS256"),
        ("RS256", "HS256"),
        ("HS256", "RS256"),
        ("hs256", "HS256"),
        ("HS512", "HS256"),
        (None, "HS256"),
    ],
)
def test_require_algorithm_refuses_any_other_algorithm(alg, expected):
    header = {"typ": "JWT"} if alg is None else {"alg": alg}
    token = parse_token(raw_token(header, claims()))
    with pytest.raises(ConnectAuthError) as excinfo:
        require_algorithm(token, expected)
    error = assert_code(excinfo, "alg_not_allowed")
    assert expected in error.detail


def test_require_algorithm_accepts_the_expected_one():
    assert require_algorithm(parsed(), "HS256") is None


def test_alg_none_token_never_verifies_with_secrets():
    token = parse_token(raw_token({"alg": "none"}, claims(), signature=b""))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [SecretCandidate(secret=SECRET, label="x")])
    assert_code(excinfo, "alg_not_allowed")


def test_rs256_token_refused_on_hs256_endpoint(install_key):
    token = parse_token(install_token(install_key, client_key="c", app_base_url="https://app"))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [SecretCandidate(secret=SECRET, label="x")])
    assert_code(excinfo, "alg_not_allowed")


def test_hs256_token_refused_on_rs256_endpoint(install_key):
    # Classic confusion attack: the RSA public key used as an HMAC secret.
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}"
    signature = hmac.new(
        install_key.public_pem.encode("ascii"), signing_input.encode("ascii"), hashlib.sha256
    ).digest()
    forged = parse_token(f"{signing_input}.{b64(signature)}")
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(forged, install_key.public_pem)
    assert_code(excinfo, "alg_not_allowed")


def test_require_claims_names_the_missing_ones():
    token = parse_token(raw_token({"alg": "HS256"}, {"iss": "jira:1"}))
    with pytest.raises(ConnectAuthError) as excinfo:
        require_claims(token, ("iss", "qsh", "exp"))
    error = assert_code(excinfo, "claim_missing")
    assert "qsh" in error.detail and "exp" in error.detail and "iss" not in error.detail
    assert error.client_key == "jira:1"


# -- times ------------------------------------------------------------------------


def test_check_times_accepts_a_fresh_token():
    assert check_times(parsed(), now=NOW) is None
    assert check_times(parsed(), now=NOW + 180) is None


def test_check_times_expired():
    token = parsed(exp=int(NOW) - 31)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW, leeway=30)
    error = assert_code(excinfo, "token_expired")
    assert "31 s ago" in error.detail
    assert error.client_key == "jira:client-1"
    assert error.extra["skew"] == pytest.approx(31)


def test_check_times_leeway_boundary():
    token = parsed(exp=int(NOW) - 30)
    check_times(token, now=NOW, leeway=30)  # exactly at the edge: accepted
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW + 0.001, leeway=30)
    assert_code(excinfo, "token_expired")
    with pytest.raises(ConnectAuthError):
        check_times(parsed(exp=int(NOW) - 1), now=NOW, leeway=0)
    check_times(parsed(exp=int(NOW) - 1), now=NOW, leeway=5)


def test_check_times_iat_in_the_future():
    check_times(parsed(iat=int(NOW) + 30, exp=int(NOW) + 300), now=NOW, leeway=30)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(iat=int(NOW) + 31, exp=int(NOW) + 300), now=NOW, leeway=30)
    error = assert_code(excinfo, "token_not_yet_valid")
    assert "future" in error.detail


def test_check_times_nbf():
    check_times(parsed(nbf=int(NOW) + 30), now=NOW, leeway=30)
    check_times(parsed(nbf=int(NOW) - 1000), now=NOW)
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(nbf=int(NOW) + 31), now=NOW, leeway=30)
    error = assert_code(excinfo, "token_not_yet_valid")
    assert "not valid before" in error.detail
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(nbf="soon"), now=NOW)
    assert_code(excinfo, "token_malformed")


@pytest.mark.parametrize("missing", ["exp", "iat"])
def test_check_times_missing_claim(missing):
    body = claims()
    del body[missing]
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parse_token(hs_token(body)), now=NOW)
    error = assert_code(excinfo, "claim_missing")
    assert missing in error.detail


@pytest.mark.parametrize("name", ["exp", "iat"])
@pytest.mark.parametrize("value", ["1700000180", True, False, None, [1], {"t": 1}])
def test_check_times_non_numeric_claims(name, value):
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parse_token(hs_token({**claims(), name: value})), now=NOW)
    error = assert_code(excinfo, "token_malformed")
    assert name in error.detail


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_check_times_non_finite_or_huge_numbers_are_malformed(name, literal):
    # json.loads accepts NaN/Infinity; they would defeat every comparison
    # (and -Infinity crashed the expiry message with OverflowError).
    body = json.dumps(claims(**{name: 0})).replace(f'"{name}": 0', f'"{name}": {literal}')
    token = parse_token(raw_token({"alg": "HS256"}, body))
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token, now=NOW)
    assert_code(excinfo, "token_malformed")


def test_check_times_accepts_float_claims():
    assert check_times(parsed(iat=NOW - 0.5, exp=NOW + 0.5), now=NOW) is None


def test_check_times_uses_the_real_clock_by_default():
    now = time.time()
    assert check_times(parsed(iat=int(now), exp=int(now) + 60)) is None
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(parsed(iat=int(now) - 600, exp=int(now) - 300))
    assert_code(excinfo, "token_expired")


# -- qsh rule ----------------------------------------------------------------------


def test_check_qsh_computed_endpoint_accepts_the_matching_hash():
    seen: list[str] = []

    def matches(value: str) -> bool:
        seen.append(value)
        return value == query_string_hash("GET", "/page?a=1")

    assert check_qsh(parsed(), context=False, matches=matches) is None
    assert seen == [query_string_hash("GET", "/page?a=1")]


@pytest.mark.parametrize("context", [True, False])
@pytest.mark.parametrize("value", [None, ""])
def test_check_qsh_missing(context, value):
    with pytest.raises(ConnectAuthError) as excinfo:
        # qsh=None: the claim is left out altogether.
        check_qsh(parsed(qsh=value), context=context, matches=lambda q: True)
    assert_code(excinfo, "qsh_missing")


def test_context_qsh_on_computed_endpoint_is_refused_even_if_matches_says_yes():
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=CONTEXT_QSH), context=False, matches=lambda q: True)
    assert_code(excinfo, "context_qsh_not_allowed")


def test_computed_qsh_on_context_endpoint_is_refused():
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(), context=True, matches=lambda q: True)
    assert_code(excinfo, "context_qsh_required")


def test_context_endpoint_accepts_context_qsh():
    assert check_qsh(parsed(qsh=CONTEXT_QSH), context=True) is None


@pytest.mark.parametrize("matches", [lambda q: False, None])
def test_check_qsh_mismatch(matches):
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=query_string_hash("GET", "/other")), context=False, matches=matches)
    error = assert_code(excinfo, "qsh_mismatch")
    assert error.client_key == "jira:client-1"


@pytest.mark.parametrize("value", [123, ["abc"], {"a": 1}, True])
def test_check_qsh_non_string_is_a_mismatch(value):
    called: list[Any] = []
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(parsed(qsh=value), context=False, matches=lambda q: called.append(q) or True)
    assert_code(excinfo, "qsh_mismatch")
    assert called == []


# -- audience -----------------------------------------------------------------------


APP = "https://app.example.com"


@pytest.mark.parametrize(
    "aud",
    [APP, APP + "/", [APP], [APP + "/", "https://other.example.com"]],
)
def test_check_audience_accepts(aud):
    assert check_audience(parsed(aud=aud), [APP]) is None
    assert check_audience(parsed(aud=aud), [APP + "/"]) is None


def test_check_audience_accepts_any_configured_base_url():
    allowed = [APP, "https://alias.example.com/"]
    assert check_audience(parsed(aud="https://alias.example.com"), allowed) is None


@pytest.mark.parametrize(
    "aud",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "https://app.example.com/sub",
        "http://app.example.com",
        ["https://other.example.com", APP],  # only the first list item counts
        [],
        [None],
        123,
        None,
    ],
)
def test_check_audience_refuses(aud):
    token = parsed(aud=aud)  # aud=None: no aud claim at all
    with pytest.raises(ConnectAuthError) as excinfo:
        check_audience(token, [APP])
    error = assert_code(excinfo, "audience_invalid")
    assert APP in error.detail


# -- RS256 ---------------------------------------------------------------------------


def test_verify_rs256_with_the_right_key(install_key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    assert token.header["kid"] == install_key.kid
    verify_rs256(token, install_key.public_pem)
    verify_rs256(token, install_key.public_pem.encode("ascii"))


def test_verify_rs256_with_a_wrong_key(install_key, other_key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(token, other_key.public_pem)
    error = assert_code(excinfo, "signature_invalid")
    assert error.client_key == "jira:1"


def test_verify_rs256_detects_tampered_claims(install_key):
    head, _, sig = install_token(install_key, client_key="jira:1", app_base_url=APP).split(".")
    forged = f"{head}.{b64(json.dumps(claims(iss='jira:victim')))}.{sig}"
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(parse_token(forged), install_key.public_pem)
    assert_code(excinfo, "signature_invalid")


@pytest.mark.parametrize(
    "key", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_verify_rs256_unusable_key(install_key, key):
    token = parse_token(install_token(install_key, client_key="jira:1", app_base_url=APP))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_rs256(token, key)
    assert_code(excinfo, "key_invalid")


# -- HS256 with the secret history ------------------------------------------------


def test_verify_with_the_current_secret():
    token = parsed()
    result = verify_hs256_with_secrets(
        token,
        [SecretCandidate(secret=SECRET, label="sha256:current")],
        now=NOW,
    )
    assert result.candidate.label == "sha256:current"
    assert result.within_grace is False
    assert result.retired is False


def test_verify_with_a_secret_retired_within_grace():
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    result = verify_hs256_with_secrets(
        token,
        [
            SecretCandidate(secret=SECRET, label="sha256:current"),
            SecretCandidate(secret=OLD_SECRET, label="sha256:old", retired_at=NOW - 899),
        ],
        now=NOW,
        grace_period=900,
    )
    assert result.candidate.label == "sha256:old"
    assert result.within_grace is True
    assert result.retired is True


def test_grace_period_boundary_is_inclusive():
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    old = SecretCandidate(secret=OLD_SECRET, label="sha256:old", retired_at=NOW - 900)
    assert verify_hs256_with_secrets(token, [old], now=NOW, grace_period=900).within_grace
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(token, [old], now=NOW + 1, grace_period=900)
    assert_code(excinfo, "secret_retired")


def test_verify_with_a_secret_retired_beyond_grace_says_which_and_when():
    retired_at = 1_699_990_000.0  # 2023-11-14T19:26:40Z
    token = parse_token(hs_token(claims(), secret=OLD_SECRET))
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            token,
            [
                SecretCandidate(secret=SECRET, label="sha256:aaaaaaaaaaaa"),
                SecretCandidate(
                    secret=OLD_SECRET, label="sha256:0123456789ab", retired_at=retired_at
                ),
            ],
            now=NOW,
            grace_period=900,
        )
    error = assert_code(excinfo, "secret_retired")
    assert "sha256:0123456789ab" in error.detail
    assert "2023-11-14T19:26:40Z" in error.detail
    assert "900" in error.detail
    assert error.extra == {"secret": "sha256:0123456789ab", "retired_at": retired_at}
    assert error.client_key == "jira:client-1"
    for text in (str(error), repr(error), error.detail, error.hint):
        assert OLD_SECRET not in text and SECRET not in text


@pytest.mark.parametrize(
    "candidates",
    [
        [],
        [SecretCandidate(secret="wrong", label="sha256:x")],
        [
            SecretCandidate(secret="wrong", label="a"),
            SecretCandidate(secret="also", label="b", retired_at=NOW),
        ],
    ],
)
def test_verify_with_no_matching_secret(candidates):
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(parsed(), candidates, now=NOW)
    error = assert_code(excinfo, "signature_invalid")
    assert SECRET not in str(error)


def test_tampered_hs256_token_does_not_verify():
    head, _, sig = hs_token(claims()).split(".")
    forged = f"{head}.{b64(json.dumps(claims(sub='admin')))}.{sig}"
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            parse_token(forged), [SecretCandidate(secret=SECRET, label="x")], now=NOW
        )
    assert_code(excinfo, "signature_invalid")


def test_secret_candidate_repr_hides_the_secret():
    candidate = SecretCandidate(secret=SECRET, label="sha256:abc")
    assert SECRET not in repr(candidate)
    assert "sha256:abc" in repr(candidate)


# -- minting -------------------------------------------------------------------------


def test_encode_app_token_claims():
    qsh = query_string_hash("GET", "/rest/api/2/myself")
    token = encode_app_token(app_key="com.example.app", secret=SECRET, qsh=qsh, now=NOW + 0.7)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["typ"] == "JWT"
    decoded = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert decoded == {"iss": "com.example.app", "iat": int(NOW), "exp": int(NOW) + 180, "qsh": qsh}


def test_encode_app_token_lifetime_and_extra_claims():
    token = encode_app_token(
        app_key="k",
        secret=SECRET,
        qsh="q",
        now=NOW,
        lifetime=60,
        extra_claims={"sub": "u", "aud": "x"},
    )
    decoded = parse_token(token).claims
    assert decoded["exp"] - decoded["iat"] == 60
    assert decoded["sub"] == "u" and decoded["aud"] == "x"


def test_encode_app_token_uses_the_clock_and_verifies_with_the_pipeline():
    before = int(time.time())
    token = encode_app_token(
        app_key="com.example.app", secret=SECRET, qsh=query_string_hash("GET", "/x")
    )
    token_parsed = parse_token(token)
    assert before <= token_parsed.claims["iat"] <= int(time.time())
    assert token_parsed.claims["exp"] == token_parsed.claims["iat"] + 180
    verify_hs256_with_secrets(token_parsed, [SecretCandidate(secret=SECRET, label="x")])
    check_times(token_parsed)
    check_qsh(token_parsed, context=False, matches=lambda q: q == query_string_hash("GET", "/x"))


def test_encode_hs256_round_trip():
    token = encode_hs256({"a": 1}, "s" * 32)
    assert jwt.decode(token, "s" * 32, algorithms=["HS256"]) == {"a": 1}


# -- the testing helpers mint tokens the product way ----------------------------------


def test_request_token_helper():
    token = request_token(
        client_key="jira:1",
        secret=SECRET,
        method="get",
        url="/app/page?b=2&a=1",
        app_base_url="https://x.example.com/app",
        account_id="acc",
        now=NOW,
    )
    decoded = parse_token(token)
    assert decoded.claims == {
        "iss": "jira:1",
        "iat": int(NOW),
        "exp": int(NOW) + 180,
        "qsh": query_string_hash("GET", "/page?a=1&b=2"),
        "context": {},
        "sub": "acc",
    }
    verify_hs256_with_secrets(decoded, [SecretCandidate(secret=SECRET, label="x")], now=NOW)
    anonymous = parse_token(
        request_token(client_key="jira:1", secret=SECRET, method="GET", url="/p")
    )
    assert "sub" not in anonymous.claims


def test_context_token_helper():
    decoded = parse_token(
        context_token(client_key="jira:1", secret=SECRET, account_id="acc", now=NOW)
    )
    assert decoded.claims["qsh"] == CONTEXT_QSH
    assert decoded.claims["exp"] - decoded.claims["iat"] == 900
    check_qsh(decoded, context=True)


def test_install_token_helper(install_key):
    token = install_token(
        install_key, client_key="jira:1", app_base_url=APP, path="/uninstalled", now=NOW, extra="y"
    )
    decoded = parse_token(token)
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"] == install_key.kid
    assert decoded.claims["aud"] == [APP]
    assert decoded.claims["qsh"] == query_string_hash("POST", "/uninstalled")
    assert decoded.claims["extra"] == "y"
    verify_rs256(decoded, install_key.public_pem)
    check_audience(decoded, [APP])
    check_times(decoded, now=NOW)


# -- tokens signed by Atlassian's Java signer (interop vectors) ------------------------


def test_there_are_signed_reference_vectors():
    assert len(SIGNED_VECTORS) == 3


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_verify(vector):
    token = parse_token(vector["jwt"])
    verified = verify_hs256_with_secrets(
        token, [SecretCandidate(secret=vector["shared_secret"], label="x")]
    )
    assert verified.candidate.label == "x" and not verified.within_grace
    check_times(token, now=token.claims["iat"])
    check_qsh(
        token,
        context=False,
        matches=lambda q: q == query_string_hash(vector["method"], vector["url_or_path"]),
    )
    assert token.claims["qsh"] == vector["expected_qsh"]


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_are_expired_by_the_real_clock(vector):
    token = parse_token(vector["jwt"])
    with pytest.raises(ConnectAuthError) as excinfo:
        check_times(token)
    assert_code(excinfo, "token_expired")


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=[v["id"] for v in SIGNED_VECTORS])
def test_java_signed_tokens_refuse_a_wrong_secret_and_another_url(vector):
    token = parse_token(vector["jwt"])
    with pytest.raises(ConnectAuthError) as excinfo:
        verify_hs256_with_secrets(
            token, [SecretCandidate(secret=vector["shared_secret"] + "x", label="x")]
        )
    assert_code(excinfo, "signature_invalid")
    with pytest.raises(ConnectAuthError) as excinfo:
        check_qsh(
            token,
            context=False,
            matches=lambda q: (
                q == query_string_hash(vector["method"], vector["url_or_path"] + "&extra=1")
            ),
        )
    assert_code(excinfo, "qsh_mismatch")


# -- one spelling per token ----------------------------------------------------------------


def _flip_unused_bits(segment: str) -> str:
    """The same bytes, spelled with the spare low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    value = alphabet.index(segment[-1])
    assert value & spare == 0  # canonical to begin with
    return segment[:-1] + alphabet[value | 1]


def test_non_canonical_base64url_signature_is_refused():
    """Flipping unused low bits decodes to the same signature: refuse that spelling."""
    import base64 as b64

    from django_atlassian_connect.tokens import verify_hs256_with_secrets

    secret = "s" * 48
    token = jwt.encode({"iss": "jira:1", "iat": 1, "exp": 2, "qsh": "x"}, secret, algorithm="HS256")
    header, claims, signature = token.split(".")
    assert len(signature) % 4 == 3  # 32 bytes: 43 characters, 2 spare bits
    twin = _flip_unused_bits(signature)
    assert b64.urlsafe_b64decode(twin + "=") == b64.urlsafe_b64decode(signature + "=")
    # PyJWT refuses it too; so do we, before any secret is tried.
    with pytest.raises(ConnectAuthError) as refused:
        parse_token(f"{header}.{claims}.{twin}")
    assert refused.value.code == "token_malformed"
    parsed = parse_token(token)
    assert verify_hs256_with_secrets(parsed, [SecretCandidate(secret, "current", None)], now=1.5)


@pytest.mark.parametrize("part", [0, 1])
def test_non_canonical_base64url_header_or_claims_is_refused(part):
    token = jwt.encode({"iss": "jira:1"}, "s" * 48, algorithm="HS256")
    segments = token.split(".")
    while len(segments[part]) % 4 not in (2, 3):  # make a segment with spare bits
        token = jwt.encode({"iss": "jira:1", "pad": "x" * len(token)}, "s" * 48, algorithm="HS256")
        segments = token.split(".")
        part = 1
    segments[part] = _flip_unused_bits(segments[part])
    with pytest.raises(ConnectAuthError) as refused:
        parse_token(".".join(segments))
    assert refused.value.code == "token_malformed"


def test_junk_headers_first_do_not_keep_the_real_header_out_of_the_memo():
    from django_atlassian_connect import tokens

    tokens._decode_header.cache_clear()
    for i in range(200):  # more distinct headers than the memo holds
        junk = jwt.encode({"iss": "x"}, "s" * 48, algorithm="HS256", headers={"n": i})
        parse_token(junk)
    real = jwt.encode({"iss": "x"}, "s" * 48, algorithm="HS256")
    parse_token(real)
    hits = tokens._decode_header.cache_info().hits
    parse_token(real)
    assert tokens._decode_header.cache_info().hits == hits + 1
