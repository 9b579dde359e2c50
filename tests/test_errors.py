"""The error model: one registry of codes, one base error with context, the public names."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import requests

from django_atlassian_connect import codes, exceptions
from django_atlassian_connect.codes import CODES, Code
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.exceptions import (
    ConnectAuthError,
    ConnectClientError,
    ConnectError,
    ImpersonationError,
    SecretDecryptionError,
)

PACKAGE = Path(__file__).resolve().parent.parent / "django_atlassian_connect"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
# The classes whose first argument is the code (ConnectAPIError's code follows from the
# status and SecretDecryptionError has one: their first argument is the detail).
CODE_FIRST = {
    "ConnectError": None,
    "ConnectAuthError": codes.REFUSAL_CODES,
    "ConnectClientError": codes.CLIENT_CODES,
    "ImpersonationError": codes.IMPERSONATION_CODES,
}


# -- the registry ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_has_a_detail_a_hint_and_a_status(code):
    entry = CODES[code]
    assert isinstance(entry, Code)
    assert entry.detail.strip() and entry.hint.strip()
    assert entry.detail[0].isupper() and entry.detail.endswith(".")
    assert entry.status == 0 or 400 <= entry.status < 600


def test_the_code_groups_partition_the_registry():
    groups = [
        codes.REFUSAL_CODES,
        codes.CLIENT_CODES,
        codes.API_CODES,
        codes.IMPERSONATION_CODES,
        codes.LINKING_CODES,
        codes.FORGE_EVENT_CODES,
        codes.ADOPTION_CODES,
        codes.FORGE_LICENSING_CODES,
        codes.REKEY_CODES,
        frozenset({"secret_undecryptable"}),
    ]
    assert sum(len(g) for g in groups) == len(CODES)
    assert frozenset().union(*groups) == set(CODES)
    assert codes.OAUTH_ERROR_CODES < codes.IMPERSONATION_CODES
    assert all(CODES[c].status in (401, 413, 503) for c in codes.REFUSAL_CODES)
    assert all(CODES[c].status == 400 for c in codes.LINKING_CODES)


def test_code_entries_are_frozen():
    with pytest.raises(AttributeError):
        CODES["token_missing"].hint = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "api_unauthorized"),
        (403, "api_forbidden"),
        (404, "api_not_found"),
        (429, "api_rate_limited"),
        (400, "api_error"),
        (500, "api_error"),
    ],
)
def test_api_code_for_status(status, code):
    assert codes.api_code_for_status(status) == code


def _raised_codes() -> list[tuple[str, str, str, int]]:
    """``(class, code, file, line)`` of every code-first error call with a literal code."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in CODE_FIRST or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((name, first.value, path.name, node.lineno))
    return found


def test_every_code_raised_in_the_package_is_registered():
    raised = _raised_codes()
    assert len(raised) > 40  # the walk finds the raise sites
    unknown = [r for r in raised if r[1] not in CODES]
    assert not unknown, unknown
    wrong_class = [
        r for r in raised if CODE_FIRST[r[0]] is not None and r[1] not in CODE_FIRST[r[0]]
    ]
    assert not wrong_class, wrong_class


def test_legacy_codes_table_keeps_status_and_hint_of_the_refusal_codes():
    assert set(exceptions.CODES) == codes.REFUSAL_CODES
    for code, (status, hint) in exceptions.CODES.items():
        assert (status, hint) == (CODES[code].status, CODES[code].hint)
    assert exceptions.CODES["key_unavailable"][0] == 503
    assert impersonation.HINTS["unauthorized_client"] == CODES["unauthorized_client"].hint


# -- the base error ----------------------------------------------------------------------------


def test_detail_and_hint_default_from_the_registry():
    error = ConnectError("tenant_unknown")
    assert (error.code, error.detail, error.hint) == (
        "tenant_unknown",
        CODES["tenant_unknown"].detail,
        CODES["tenant_unknown"].hint,
    )
    assert error.status_code == 401 and error.args == (error.detail,)
    assert str(error) == f"{error.detail} {error.hint}"
    given = ConnectError("tenant_unknown", "No tenant 'x'.", hint="")
    assert (given.detail, given.hint, str(given)) == ("No tenant 'x'.", "", "No tenant 'x'.")


def test_context_keywords_become_attributes():
    error = ConnectError("key_unavailable", kid="abc", attempts=2)
    assert error.kid == "abc" and error.attempts == 2
    assert error.context == {"kid": "abc", "attempts": 2}
    assert error.status_code == 503


def test_unknown_or_foreign_codes_are_refused():
    with pytest.raises(ValueError, match="unknown error code 'no_such_code'"):
        ConnectError("no_such_code")
    with pytest.raises(ValueError, match="does not carry"):
        ConnectAuthError("url_not_allowed", "x")
    with pytest.raises(ValueError, match="does not carry"):
        ConnectClientError("token_missing")
    with pytest.raises(TypeError, match="context"):
        ConnectError("token_missing", context={})


def test_auth_error_always_has_client_key_and_keeps_extra():
    bare = ConnectAuthError("token_missing")
    assert bare.client_key is None and bare.extra == {}
    error = ConnectAuthError("secret_retired", "old", client_key="jira:1", secret="sha256:ab")
    assert error.client_key == "jira:1" and error.secret == "sha256:ab"
    assert error.extra == {"secret": "sha256:ab"}
    assert error.context == {"client_key": "jira:1", "secret": "sha256:ab"}
    assert repr(error) == (
        "ConnectAuthError(code='secret_retired', detail='old', client_key='jira:1')"
    )


def test_client_error_attributes_are_none_when_nothing_was_sent():
    error = ConnectClientError("tenant_not_installed")
    assert (error.method, error.url, error.status, error.response, error.tenant) == (None,) * 5
    assert error.status_code == 0
    impersonation = ImpersonationError("oauth_client_id_missing")
    assert isinstance(impersonation, ConnectClientError)
    assert (impersonation.oauth_error, impersonation.account_id, impersonation.scopes) == (
        None,
        None,
        None,
    )


def test_secret_decryption_error_has_its_one_code():
    error = SecretDecryptionError("cannot decrypt")
    assert error.code == "secret_undecryptable" and error.detail == "cannot decrypt"
    assert error.hint == CODES["secret_undecryptable"].hint


def test_repr_never_shows_secrets_tokens_or_responses():
    response = requests.Response()
    response.status_code = 401
    response._content = b'{"message": "bad"}'
    response.request = requests.Request(
        "GET",
        "https://site.atlassian.net/x?jwt=TOKEN-IN-QUERY",
        headers={"Authorization": "JWT T0K"},
    ).prepare()
    error = ImpersonationError(
        "invalid_grant",
        "refused",
        method="POST",
        url="https://auth.example/oauth2/token?assertion=ASSERTION",
        status=400,
        response=response,
        tenant=object(),
        account_id=ACCOUNT,
        oauth_error="invalid_grant",
        secret="S3CRET",
    )
    text = repr(error)
    assert text == (
        "ImpersonationError(code='invalid_grant', detail='refused', method='POST', status=400, "
        f"oauth_error='invalid_grant', account_id='{ACCOUNT}')"
    )
    for secret in ("S3CRET", "T0K", "TOKEN-IN-QUERY", "ASSERTION"):
        assert secret not in text and secret not in str(error)


def test_errors_survive_pickling():
    error = ConnectAuthError("token_expired", "expired 31 s ago", client_key="jira:1", skew=31)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ConnectAuthError
    assert (copy.code, copy.detail, copy.hint, copy.client_key, copy.extra) == (
        error.code,
        error.detail,
        error.hint,
        "jira:1",
        {"skew": 31},
    )
    assert str(copy) == str(error)


def test_from_oauth_error_keeps_the_servers_string():
    known = ImpersonationError.from_oauth_error("invalid_scope", "refused")
    assert (known.code, known.oauth_error) == ("invalid_scope", "invalid_scope")
    unknown = ImpersonationError.from_oauth_error("consent_required", "refused")
    assert (unknown.code, unknown.oauth_error) == ("oauth_error", "consent_required")
    ours = ImpersonationError.from_oauth_error("token_missing", "refused")
    assert ours.code == "oauth_error"  # only OAuth error strings become codes


# -- public import paths -----------------------------------------------------------------------


def test_public_import_paths():
    from django_atlassian_connect import authentication, http
    from django_atlassian_connect.connect import client, signing
    from django_atlassian_connect.exceptions import (
        ConnectAPIError,
        ConnectAuthenticationFailed,
    )
    from django_atlassian_connect.exceptions import (
        ConnectAuthError as AuthError,
    )
    from django_atlassian_connect.exceptions import (
        ConnectClientError as ClientError,
    )
    from django_atlassian_connect.exceptions import (
        ImpersonationError as Impersonation,
    )

    assert ConnectAPIError is http.ConnectAPIError
    assert issubclass(ConnectAPIError, requests.HTTPError) and issubclass(
        ConnectAPIError, ClientError
    )
    assert ConnectAuthenticationFailed is authentication.ConnectAuthenticationFailed
    assert (AuthError, ClientError, Impersonation) == (
        ConnectAuthError,
        ConnectClientError,
        ImpersonationError,
    )
    assert client.current_secret is signing.current_secret
    assert client.SigningSecret is signing.SigningSecret
    assert client.product_message is http.product_message
    assert {"ConnectAPIError", "ConnectAuthenticationFailed"} <= set(dir(exceptions))
    assert set(exceptions.__all__) <= set(dir(exceptions))
    with pytest.raises(AttributeError):
        exceptions.NoSuchError


def test_drf_failure_wraps_the_domain_error():
    from django_atlassian_connect.exceptions import ConnectAuthenticationFailed

    error = ConnectAuthError("payload_too_large", "too big")
    failure = ConnectAuthenticationFailed(error, {"detail": "too big", "code": error.code})
    assert failure.status_code == 413 and failure.error is error
