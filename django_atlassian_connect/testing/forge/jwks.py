"""A stand-in for Forge's JWKS CDN (``/.well-known/jwks.json``) on 127.0.0.1.

Besides serving the key set it can misbehave the ways a CDN does, so a test
can check what a verifier does then (spec §3.5: 503 without cached keys,
keep the last good set, bounded size and time). Set :attr:`JwksServer.fault`:

=============== =====================================================
``"down"``      503
``"refuse"``    not listening at all (connection refused)
``"slow"``      answers correctly after ``slow_seconds``
``"garbage"``   200 with HTML, not JSON
``"oversized"`` 200 with a valid key set padded to ``oversized_bytes``
``"wrong_shape"`` 200 with JSON that holds no ``keys``
``None``        healthy
=============== =====================================================
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from ..server import LocalHTTPServer
from .keys import ForgeSigningKey, KeyRing
from .wire import Reply, Request, handler_for

JWKS_PATH = "/.well-known/jwks.json"
FAULTS = ("down", "refuse", "slow", "garbage", "oversized", "wrong_shape")


class JwksServer(LocalHTTPServer):
    """Serves ``GET /.well-known/jwks.json`` from a :class:`KeyRing`.

    ``fetch_count`` counts requests for the key set that reached the server;
    ``requests`` records each (method, path, user agent, fault in force).
    ``max_age=None`` sends no ``Cache-Control`` header.
    """

    def __init__(self, keys: KeyRing | None = None, *, max_age: int | None = 3600) -> None:
        super().__init__()
        self.keys = keys or KeyRing()
        self.max_age = max_age
        self.slow_seconds = 6.0  # longer than the 5 s a verifier may wait
        self.oversized_bytes = 2 * 1024 * 1024
        self.fetch_count = 0
        self.requests: list[dict[str, Any]] = []
        self._fault: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        # Known while "refuse" has the socket closed: the address stays the same.
        if not self.port:
            raise AssertionError("start() the server first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    def start(self) -> Self:
        if self._fault == "refuse" and self.port:
            return self
        super().start()
        return self

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, mode: str | None) -> None:
        if mode is not None and mode not in FAULTS:
            raise ValueError(f"fault is one of {FAULTS} or None, not {mode!r}")
        was_refusing, self._fault = self._fault == "refuse", mode
        # "refuse" really closes the socket; leaving it reopens on the same port.
        if mode == "refuse" and self.running:
            self.stop()
        elif was_refusing and not self.running:
            self.start()

    def rotate(self, *, keep_old: bool = True) -> ForgeSigningKey:
        return self.keys.rotate(keep_old=keep_old)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        fault = self._fault
        with self._lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "user_agent": request.headers.get("user-agent", ""),
                    "fault": fault,
                }
            )
            if request.path == JWKS_PATH:
                self.fetch_count += 1
        if request.method != "GET" or request.path != JWKS_PATH:
            return Reply(404, {"message": f"no such resource {request.method} {request.path}"})
        if fault == "down":
            return Reply(503, "Service Unavailable", content_type="text/plain")
        if fault == "garbage":
            return Reply(200, "<html><body>Not a key set</body></html>", content_type="text/html")
        if fault == "wrong_shape":
            return Reply(200, {"message": "no keys here", "items": []}, self._cache_headers())
        if fault == "slow":
            time.sleep(self.slow_seconds)
        body: Any = self.keys.jwks()
        if fault == "oversized":
            # Valid JSON and a valid key set: only a size limit can refuse it.
            filler = max(0, self.oversized_bytes - len(json.dumps(body)))
            body = {**body, "padding": "x" * filler}
        return Reply(200, body, self._cache_headers())

    def _cache_headers(self) -> dict[str, str]:
        if self.max_age is None:
            return {}
        return {"Cache-Control": f"public, max-age={self.max_age}"}
