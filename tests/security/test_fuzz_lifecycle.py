"""Property-based fuzzing of lifecycle payload validation."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from django_atlassian_connect.connect.lifecycle import PAYLOAD_FIELDS, parse_payload
from django_atlassian_connect.exceptions import ConnectAuthError
from tests.security.fuzz_support import EXAMPLES_RUN, assert_documented, fuzz, payloads

pytestmark = [
    pytest.mark.fuzz,
    # Short and empty secrets are part of the input space here.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


# -- lifecycle payloads -----------------------------------------------------------------------


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
