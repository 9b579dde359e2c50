"""http.token_endpoint: one token request, one reading of the answer, no secret on an error."""

from __future__ import annotations

import json
import pickle
from urllib.parse import parse_qs

import pytest
import requests

from django_atlassian_connect.codes import OAUTH_ERROR_CODES
from django_atlassian_connect.exceptions import ImpersonationError
from django_atlassian_connect.http.token_endpoint import (
    DEFAULT_EXPIRES_IN,
    TokenAnswer,
    TokenCodes,
    post_token_request,
)

URL = "https://auth.example/oauth/token"
SECRET = "client-secret-never-shown-0123456789"
BODY = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": SECRET}
CODES = TokenCodes(
    unavailable="authorization_server_unavailable",
    refused="oauth_error",
    invalid="token_response_invalid",
    oauth_errors=OAUTH_ERROR_CODES,
)


def ask(url: str = URL, **kwargs) -> TokenAnswer:
    kwargs.setdefault("encode", "json")
    return post_token_request(
        url, BODY, codes=CODES, what="issue a token", error=ImpersonationError, **kwargs
    )


def failure(**kwargs) -> ImpersonationError:
    with pytest.raises(ImpersonationError) as caught:
        ask(**kwargs)
    return caught.value


def assert_no_secret(error: BaseException) -> None:
    """Not in the message, the repr, a chained exception, or the pickled error."""
    shown = str(error) + repr(error) + repr(error.__cause__) + repr(error.__context__)
    assert SECRET not in shown
    assert SECRET.encode() not in pickle.dumps(error)
    assert error.__context__ is None
    cause = error.__cause__
    if cause is not None:
        assert getattr(cause, "request", None) is None and cause.__cause__ is None
        assert cause.__context__ is None


@pytest.fixture(autouse=True)
def few_retries(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_RETRIES": 1}


def test_a_json_request_and_its_answer(rsps):
    rsps.post(
        URL,
        json={
            "access_token": "at-123",
            "expires_in": 3600,
            "refresh_token": "rt-456",
            "scope": "read",
            "token_type": "Bearer",
        },
    )
    answer = ask()
    assert (answer.access_token, answer.expires_in, answer.refresh_token) == (
        "at-123",
        3600,
        "rt-456",
    )
    assert (answer.scope, answer.token_type) == ("read", "Bearer")
    assert "at-123" not in repr(answer) and "rt-456" not in repr(answer)
    request = rsps.calls[0].request
    assert json.loads(request.body) == BODY and request.headers["Accept"] == "application/json"


def test_a_form_request(rsps):
    rsps.post(URL, json={"access_token": "at", "expires_in": 60})
    post_token_request(URL, BODY, codes=CODES, what="x", encode="form")
    assert parse_qs(rsps.calls[0].request.body) == {k: [v] for k, v in BODY.items()}


# -- expires_in: one rule ----------------------------------------------------------------------


def test_a_missing_expires_in_is_the_documented_default(rsps):
    rsps.post(URL, json={"access_token": "at"})
    assert ask().expires_in == DEFAULT_EXPIRES_IN == 900


def test_a_fractional_expires_in_is_rounded_down(rsps):
    rsps.post(URL, json={"access_token": "at", "expires_in": 3599.9})
    assert ask().expires_in == 3599


@pytest.mark.parametrize(
    "raw", ['"3600"', "true", "0", "-5", "0.5", "null", "NaN", "Infinity", "1e12", "[3600]"]
)
def test_a_present_but_invalid_expires_in_is_an_error(rsps, raw):
    rsps.post(URL, body='{"access_token": "at-secret-1", "expires_in": ' + raw + "}")
    error = failure()
    assert error.code == "token_response_invalid" and "expires_in" in error.detail
    assert error.response is None  # a 200 answer holds the token
    assert "at-secret-1" not in str(error) + repr(error)


@pytest.mark.parametrize(
    "body", ["not json", '["x"]', '{"token_type": "Bearer"}', '{"access_token": ""}']
)
def test_an_answer_without_a_token_is_invalid(rsps, body):
    rsps.post(URL, body=body)
    assert failure().code == "token_response_invalid"


# -- error answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_unavailable_whatever_error_they_name(rsps, status):
    rsps.post(URL, status=status, json={"error": "temporarily_unavailable"})
    error = failure()
    assert (error.code, error.status, error.oauth_error) == (
        "authorization_server_unavailable",
        status,
        "temporarily_unavailable",
    )


def test_retry_false_sends_a_request_once(rsps):
    rsps.post(URL, status=503, json={})
    assert failure(retry=False).code == "authorization_server_unavailable"
    assert len(rsps.calls) == 1
    rsps.calls.reset()
    failure(retry=True)
    assert len(rsps.calls) == 2  # HTTP_RETRIES is 1


def test_a_registered_error_is_its_own_code_and_others_are_refused(rsps):
    rsps.post(URL, status=400, json={"error": "invalid_grant", "error_description": "gone"})
    error = failure()
    assert (error.code, error.oauth_error, error.oauth_error_description) == (
        "invalid_grant",
        "invalid_grant",
        "gone",
    )
    assert "refused to issue a token: 400 invalid_grant (gone)" in error.detail
    rsps.replace("POST", URL, status=403, json={"error": "consent_required"})
    assert failure().code == "oauth_error"


def test_an_error_answer_naming_no_error_is_invalid(rsps):
    rsps.post(URL, status=404, body="<html>not here</html>")
    error = failure()
    assert (error.code, error.status, error.oauth_error) == ("token_response_invalid", 404, None)


def test_an_error_answer_is_carried_without_the_request_body(rsps):
    rsps.post(URL, status=401, json={"error": "invalid_client"})
    error = failure()
    assert error.response.status_code == 401 and error.response.request.body is None
    assert_no_secret(error)


def test_a_redirect_is_not_followed(rsps):
    rsps.post(URL, status=307, headers={"Location": "https://elsewhere.example/token"})
    rsps.post("https://elsewhere.example/token", json={"access_token": "at"})
    assert failure().code == "token_response_invalid"
    assert [call.request.url for call in rsps.calls] == [URL]


# -- network failures --------------------------------------------------------------------------


def test_a_network_failure_keeps_its_type_but_not_the_request_body():
    # A real refused connection: requests' exception carries the prepared request and its body.
    error = failure(url="http://127.0.0.1:9/oauth/token")
    assert (error.code, error.status, error.oauth_error) == (
        "authorization_server_unavailable",
        None,
        None,
    )
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert "ConnectionError" in error.detail and error.response is None
    assert_no_secret(error)


def test_a_timeout_names_its_type(rsps):
    rsps.post(URL, body=requests.Timeout("read timed out"))
    error = failure()
    assert isinstance(error.__cause__, requests.Timeout) and "Timeout" in str(error)
    assert_no_secret(error)
