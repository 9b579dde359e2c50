"""Network failures of outbound calls: one ConnectClientError (``network_error``) that is
also the original ``requests`` exception, without the request's body or credentials."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator

import pytest
import requests

from django_atlassian_connect import diagnostics
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.exceptions import ConnectClientError, ConnectNetworkError
from django_atlassian_connect.http import TimeoutSession, new_session

SECRET = "s3cret-client-secret-value"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def _chain(exc: BaseException) -> list[BaseException]:
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def test_a_refused_connection_is_a_client_error_and_a_requests_error(closed_port):
    url = f"http://user:pw@127.0.0.1:{closed_port}/token?api_token={SECRET}"
    with pytest.raises(ConnectClientError) as caught:
        new_session().post(url, data={"client_secret": SECRET}, headers={"Authorization": SECRET})
    error = caught.value
    assert isinstance(error, ConnectNetworkError) and isinstance(error, requests.ConnectionError)
    assert error.code == "network_error" and error.method == "POST"
    assert error.host == f"127.0.0.1:{closed_port}"
    assert error.url == f"http://127.0.0.1:{closed_port}/token"
    assert "Connection refused" in error.reason
    assert f"127.0.0.1:{closed_port}" in error.hint and "HTTP_TIMEOUT" in error.hint
    for text in (str(error), repr(error), error.detail, error.hint):
        assert SECRET not in text and "pw" not in text.split("Check")[0]
    # Neither the error nor any exception it chains keeps the request (body, headers).
    for exc in _chain(error):
        assert getattr(exc, "request", None) is None, type(exc)


def test_a_timeout_is_still_a_requests_timeout(silent_port):
    # A plain TimeoutSession (no retrying adapter, which turns a read timeout into
    # requests' ConnectionError): the type requests raised is kept.
    with pytest.raises(requests.Timeout) as caught:
        TimeoutSession(timeout=0.3).get(f"http://127.0.0.1:{silent_port}/slow")
    error = caught.value
    assert isinstance(error, ConnectClientError) and error.code == "network_error"
    assert "ReadTimeout" in error.reason and "0.3 s" in error.hint


def test_the_error_pickles_as_the_same_two_kinds(closed_port):
    with pytest.raises(ConnectNetworkError) as caught:
        new_session().get(f"http://127.0.0.1:{closed_port}/")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is type(caught.value)
    assert (copy.code, copy.host, copy.detail) == (
        "network_error",
        caught.value.host,
        caught.value.detail,
    )


@pytest.mark.django_db
def test_connect_client_calls_raise_it_and_the_doctor_explains_it(tenant, closed_port):
    """Formerly a raw requests exception: callers had to catch two hierarchies."""
    tenant.base_url = f"http://127.0.0.1:{closed_port}/jira"
    with pytest.raises(ConnectClientError) as caught:
        ConnectClient(tenant).as_app().get("/rest/api/3/myself")
    assert isinstance(caught.value, requests.ConnectionError)
    finding = diagnostics.explain_outbound_error(caught.value, tenant)
    assert finding.code == "product_unreachable" and "Connection refused" in finding.message
