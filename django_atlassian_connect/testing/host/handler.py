"""The HTTP side of the site: one handler class per site, dispatching by path.

``/keys/<kid>`` (install-key CDN), ``/oauth2/token`` (authorization server),
``/`` (browser page), ``/rest/...`` and ``/wiki/...`` (product REST API).
Every request, answered or refused, is appended to the site's ``log``.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ..keyserver import InstallKeyPair
from .state import Refusal


class Site(Protocol):
    """What the handler needs of the site (:class:`ConnectHost` provides it)."""

    key: InstallKeyPair
    log: list[dict[str, Any]]

    def grant(self, form: dict[str, str]) -> dict[str, Any]: ...

    def handle_rest(
        self, method: str, raw_path: str, query: str, authorization: str
    ) -> tuple[int, Any, dict[str, str]]: ...

    def browser_page(self, module: str | None) -> str: ...


#: ``(status, body, headers, content type)``; a ``dict``/``list`` body is sent as JSON
Reply = tuple[int, Any, dict[str, str], str]
JSON = "application/json"


def respond(site: Site, method: str, raw_path: str, query: str, body: bytes, auth: str) -> Reply:
    """Answer one request; raise :class:`Refusal` to refuse it."""
    if raw_path.startswith("/keys/") and method == "GET":
        if raw_path[len("/keys/") :] != site.key.kid:
            raise Refusal(404, "no such key")
        return 200, site.key.public_pem, {}, "application/x-pem-file"
    if raw_path == "/oauth2/token" and method == "POST":
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return 200, site.grant(form), {}, JSON
    if raw_path in ("/", "") and method == "GET":
        module = dict(parse_qsl(query)).get("module")
        return 200, site.browser_page(module), {}, "text/html; charset=utf-8"
    if raw_path.startswith(("/rest/", "/wiki/")):
        status, payload, headers = site.handle_rest(method, raw_path, query, auth)
        return status, payload, headers, JSON
    raise Refusal(404, f"no such resource {raw_path}")


def refusal_reply(refusal: Refusal) -> Reply:
    """A refusal as JSON; a message that already is JSON (OAuth errors) is sent as is."""
    message = refusal.message
    payload = json.loads(message) if message.startswith("{") else {"message": message}
    headers = dict(refusal.headers)
    if refusal.status == 401:
        headers.setdefault("WWW-Authenticate", 'JWT realm="simulated-site"')
    return refusal.status, payload, headers, JSON


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``site``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str], content_type: str) -> None:
            data = (
                body
                if isinstance(body, bytes)
                else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            raw_path, _, query = self.path.partition("?")
            entry: dict[str, Any] = {
                "direction": "in",
                "method": self.command,
                "path": raw_path,
                "query": query,
                "auth": (self.headers.get("Authorization") or "").split(" ", 1)[0],
            }
            auth = self.headers.get("Authorization", "")
            try:
                reply = respond(site, self.command, raw_path, query, body, auth)
            except Refusal as refusal:
                reply = refusal_reply(refusal)
                entry["reason"] = reply[1]
            status, payload, headers, content_type = reply
            entry["status"] = status
            # Logged before answering: a caller that got the answer finds the entry.
            site.log.append(entry)
            self._send(status, payload, headers, content_type)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    return Handler
