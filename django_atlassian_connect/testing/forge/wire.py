"""The HTTP plumbing the platform's servers share: parse a request, send a reply.

A server supplies one function, ``Request -> Reply``; this module turns it
into a ``BaseHTTPRequestHandler`` class. Bodies that are ``dict``/``list``
are sent as JSON, ``str``/``bytes`` as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

JSON = "application/json"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Reply:
    status: int
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON

    def data(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


Dispatch = Callable[[Request], Reply]


def handler_for(dispatch: Dispatch) -> type[BaseHTTPRequestHandler]:
    """A request handler class that answers every method with ``dispatch``."""

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive like a real CDN/gateway, so a client's connection pool is exercised.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = dispatch(Request(self.command, path, query, headers, body))
            data = reply.data()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing left to tell it.
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    return Handler
