"""Isolated Cloud labels and the JWKS fetches they may cause (issue 19, item 4).

The ``icLabel`` claim is read before the signature is checked: whoever sends
a token chooses it. These tests run a real key host on 127.0.0.1 that serves
one JWKS per label (``/ic/<label>/jwks.json``), counts the fetches, and can be
slow, to show that unsigned input no longer decides how many fetches are made,
how many key sets are kept, or how long a request waits.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache

from django_atlassian_connect.exceptions import ForgeAuthError
from django_atlassian_connect.forge import jwks, verify_fit
from tests.conftest import assert_refused


class LabelledKeyHost:
    """One JWKS per label at ``/ic/<label>/jwks.json``; ``delay`` slows each answer.

    ``trickle``: the headers go out at once, then the body one byte per
    ``trickle`` seconds, so no single read ever waits long (a read timeout
    never fires, only a deadline on the whole fetch does).
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.delay = 0.0
        self.trickle = 0.0
        self.fetches: Counter[str] = Counter()
        self._lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if len(parts) != 3 or parts[0] != "ic" or parts[2] != "jwks.json":
                    self.send_error(404)
                    return
                with host._lock:
                    host.fetches[parts[1]] += 1
                time.sleep(host.delay)
                body = json.dumps(host.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=3600")
                self.end_headers()
                try:
                    if not host.trickle:
                        self.wfile.write(body)
                        return
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(host.trickle)
                except OSError:
                    pass  # the client gave up

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ic/{{IC_LABEL}}/jwks.json"

    @property
    def total(self) -> int:
        return sum(self.fetches.values())

    def __enter__(self) -> LabelledKeyHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform(forge_host):
    return forge_host


@pytest.fixture
def key_host(platform):
    with LabelledKeyHost(platform.keys.jwks()) as host:
        yield host


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    cache.clear()
    jwks.clear_memory_cache()
    yield
    jwks.clear_memory_cache()


def configure(settings, key_host: LabelledKeyHost, labels: Any, **values: Any) -> None:
    """Isolated Cloud keys on ``key_host``, ``labels`` listed (``None``: the default)."""
    conf = {**settings.ATLASSIAN_CONNECT, "FORGE_IC_JWKS_URL_TEMPLATE": key_host.template}
    if labels is not None:
        conf["FORGE_IC_LABELS"] = labels
    settings.ATLASSIAN_CONNECT = {**conf, **values}


def labelled(platform, label: str) -> str:
    return platform.mint_fit(overrides={"icLabel": label})


def relabelled(token: str, label: str) -> str:
    """``token`` with another icLabel and its old signature: an attacker's unsigned edit."""
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["icLabel"] = label
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


def refused(token: str, code: str) -> ForgeAuthError:
    with pytest.raises(ForgeAuthError) as info:
        verify_fit(token)
    status = 503 if code == "key_unavailable" else 401
    return assert_refused(info.value, code, status)


# -- the allow-list -------------------------------------------------------------------------------


def test_200_new_labels_make_no_fetch_and_keep_no_key_set(platform, key_host, settings):
    """Before: 200 fetches and 200 key sets kept. Now: labels not listed cost nothing."""
    configure(settings, key_host, ["eu-ic"])
    token = labelled(platform, "eu-ic")
    for i in range(200):
        error = refused(relabelled(token, f"attacker-{i}"), "key_invalid")
        assert "FORGE_IC_LABELS" in error.detail + error.hint
    assert key_host.total == 0  # N = 0: a label not on the list never reaches the network
    assert jwks._sets == {}


def test_an_empty_allow_list_refuses_every_isolated_cloud_token(platform, key_host, settings):
    configure(settings, key_host, None)  # FORGE_IC_LABELS left at its default
    error = refused(labelled(platform, "eu-ic"), "key_invalid")
    assert "FORGE_IC_LABELS" in error.hint and "'eu-ic'" in error.detail
    assert key_host.total == 0


def test_listed_labels_are_accepted_and_fetched_once_each(platform, key_host, settings):
    labels = ["eu-ic", "us_ic", "gov-1"]
    configure(settings, key_host, labels)
    for i in range(30):
        assert verify_fit(labelled(platform, labels[i % 3]))["icLabel"] == labels[i % 3]
    assert key_host.fetches == {label: 1 for label in labels}
    assert len(jwks._sets) == 3


@pytest.mark.parametrize("placeholder", ["{IC_LABEL}", "{icLabel}"])
def test_both_placeholders_are_substituted(platform, key_host, settings, placeholder):
    template = key_host.template.replace("{IC_LABEL}", placeholder)
    configure(settings, key_host, ["eu-ic"], FORGE_IC_JWKS_URL_TEMPLATE=template)
    assert verify_fit(labelled(platform, "eu-ic"))
    assert key_host.fetches == {"eu-ic": 1}


def test_a_label_is_still_checked_for_its_shape(platform, key_host, settings):
    # A listed value that is not a label changes nothing.
    configure(settings, key_host, ["eu-ic", "../x"])
    refused(labelled(platform, "../x"), "key_invalid")
    refused(labelled(platform, "EU-IC"), "key_invalid")
    assert key_host.total == 0


# -- the key sets held in memory ------------------------------------------------------------------------


def test_key_sets_in_memory_are_bounded_least_recently_used_first(platform, key_host):
    kid = platform.keys.current.kid
    base = key_host.template.replace("{IC_LABEL}", "lru")
    for i in range(100):  # (LocMemCache keeps 300 entries: two a URL stay within)
        jwks.signing_key(kid, f"{base}?n={i}")
    assert len(jwks._sets) <= jwks.MAX_KEY_SETS <= 64
    assert f"{base}?n=99" in jwks._sets and f"{base}?n=0" not in jwks._sets
    # Used, not only added: the oldest kept set, once used, outlives the next one.
    oldest = next(iter(jwks._sets))
    assert oldest == f"{base}?n={100 - jwks.MAX_KEY_SETS}"
    jwks.signing_key(kid, oldest)
    jwks.signing_key(kid, f"{base}?n=100")
    assert oldest in jwks._sets and f"{base}?n={101 - jwks.MAX_KEY_SETS}" not in jwks._sets
    # An evicted set comes back from the shared cache, without a fetch.
    before = key_host.total
    jwks.signing_key(kid, f"{base}?n=0")
    assert key_host.total == before


# -- a slow key host ----------------------------------------------------------------------------------


def test_a_trickling_key_host_cannot_hold_a_request_beyond_the_timeout(
    platform, key_host, settings
):
    """Each read is quick, the whole answer takes about 6 s: a read timeout never fires."""
    key_host.trickle = 0.012  # about 500 bytes: about 6 s for the whole document
    configure(settings, key_host, ["slow"], FORGE_JWKS_FETCH_TIMEOUT=1.0)
    started = time.monotonic()
    refused(labelled(platform, "slow"), "key_unavailable")
    waited = time.monotonic() - started
    assert waited < 1.5, waited
    # The window is taken: the next request neither fetches nor waits.
    started = time.monotonic()
    refused(labelled(platform, "slow"), "key_unavailable")
    assert time.monotonic() - started < 0.5
    assert key_host.fetches == {"slow": 1}


def test_a_silent_key_host_costs_one_timeout(platform, key_host, settings):
    key_host.delay = 4.0
    configure(settings, key_host, ["slow"], FORGE_JWKS_FETCH_TIMEOUT=1.0)
    started = time.monotonic()
    refused(labelled(platform, "slow"), "key_unavailable")
    assert time.monotonic() - started < 1.5


def test_concurrent_requests_for_one_url_share_one_fetch(platform, key_host, settings):
    key_host.delay = 0.5
    configure(settings, key_host, ["eu-ic"], FORGE_JWKS_FETCH_TIMEOUT=3.0)
    tokens = [labelled(platform, "eu-ic") for _ in range(8)]
    results: list[Any] = [None] * len(tokens)
    waits: list[float] = [0.0] * len(tokens)

    def verify(i: int) -> None:
        started = time.monotonic()
        try:
            results[i] = verify_fit(tokens[i])["icLabel"]
        except ForgeAuthError as error:
            results[i] = error.code
        waits[i] = time.monotonic() - started

    threads = [threading.Thread(target=verify, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["eu-ic"] * len(tokens)  # before: one fetched, seven got key_unavailable
    assert key_host.fetches == {"eu-ic": 1}
    assert max(waits) < 3.0


def test_a_late_answer_serves_the_next_request(platform, key_host, settings):
    """A fetch that outlives its waiter still lands in memory for the next request."""
    key_host.delay = 1.5
    configure(settings, key_host, ["eu-ic"], FORGE_JWKS_FETCH_TIMEOUT=1.0)
    refused(labelled(platform, "eu-ic"), "key_unavailable")
    time.sleep(1.0)  # the fetch finishes meanwhile
    assert verify_fit(labelled(platform, "eu-ic"))
    assert key_host.fetches == {"eu-ic": 1}
