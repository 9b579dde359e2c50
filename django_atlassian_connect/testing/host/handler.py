"""The HTTP side of the site: one handler class per site, dispatching from a route table.

``/keys/<kid>`` (install-key CDN), ``/oauth2/token`` (authorization server),
``/`` (browser page), ``/atlassian-connect/...`` (the AP bridge's scripts and
calls), ``/rest/...`` and ``/wiki/...`` (product REST API). Every request,
answered or refused, is appended to the site's ``log``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ..keyserver import InstallKeyPair
from .bridge import STATIC_FILES, static_file
from .state import Refusal


class Site(Protocol):
    """What the handler needs of the site (:class:`ConnectHost` provides it)."""

    key: InstallKeyPair
    log: list[dict[str, Any]]

    def grant(self, form: dict[str, str]) -> dict[str, Any]: ...

    def handle_rest(
        self, method: str, raw_path: str, query: str, authorization: str
    ) -> tuple[int, Any, dict[str, str]]: ...

    def browser_page(self, module: str | None, user: str | None = None) -> str: ...

    def bridge_context_token(self, session: str, origin: str) -> dict[str, Any]: ...

    def bridge_request(
        self, session: str, origin: str, options: dict[str, Any]
    ) -> dict[str, Any]: ...


#: ``(status, body, headers, content type)``; a ``dict``/``list`` body is sent as JSON
Reply = tuple[int, Any, dict[str, str], str]
JSON = "application/json"


@dataclass(frozen=True)
class Incoming:
    """One request as the routes see it."""

    method: str
    path: str
    query: str
    body: bytes
    headers: Message  # case-insensitive, as http.server parses them

    def header(self, name: str) -> str:
        return str(self.headers.get(name) or "")

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise Refusal(400, "the body is not JSON") from exc
        if not isinstance(value, dict):
            raise Refusal(400, "the body is not a JSON object")
        return value


Route = Callable[[Site, Incoming], Reply]


def _page(site: Site, request: Incoming) -> Reply:
    params = dict(parse_qsl(request.query))
    page = site.browser_page(params.get("module"), params.get("user"))
    return 200, page, {"Cache-Control": "no-store"}, "text/html; charset=utf-8"


def _grant(site: Site, request: Incoming) -> Reply:
    form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return 200, site.grant(form), {}, JSON


def _key(site: Site, request: Incoming) -> Reply:
    if request.path[len("/keys/") :] != site.key.kid:
        raise Refusal(404, "no such key")
    return 200, site.key.public_pem, {}, "application/x-pem-file"


def _static(site: Site, request: Incoming) -> Reply:
    name = request.path[len("/atlassian-connect/") :]
    text = static_file(name)
    return 200, text, {"Cache-Control": "no-cache"}, STATIC_FILES[name]


def _page_session(request: Incoming) -> tuple[str, str]:
    """The page session and the ``Origin`` of a bridge call from the site's page."""
    return request.header("X-Site-Session"), request.header("Origin")


def _context_token(site: Site, request: Incoming) -> Reply:
    return 200, site.bridge_context_token(*_page_session(request)), {}, JSON


def _ap_request(site: Site, request: Incoming) -> Reply:
    return 200, site.bridge_request(*_page_session(request), request.json()), {}, JSON


def _rest(site: Site, request: Incoming) -> Reply:
    status, payload, headers = site.handle_rest(
        request.method, request.path, request.query, request.header("Authorization")
    )
    return status, payload, headers, JSON


#: (method, path) -> route. Add a resource here.
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): _page,
    ("GET", ""): _page,
    ("POST", "/oauth2/token"): _grant,
    ("POST", "/atlassian-connect/context-token"): _context_token,
    ("POST", "/atlassian-connect/request"): _ap_request,
}
#: (method or None for any, path prefix) -> route, tried in order after ROUTES
PREFIX_ROUTES: list[tuple[str | None, str, Route]] = [
    ("GET", "/keys/", _key),
    ("GET", "/atlassian-connect/", _static),
    (None, "/rest/", _rest),
    (None, "/wiki/", _rest),
]


def respond(site: Site, request: Incoming) -> Reply:
    """Answer one request; raise :class:`Refusal` to refuse it."""
    route = ROUTES.get((request.method, request.path))
    if route is None:
        route = next(
            (
                candidate
                for method, prefix, candidate in PREFIX_ROUTES
                if method in (None, request.method) and request.path.startswith(prefix)
            ),
            None,
        )
    if route is None:
        raise Refusal(404, f"no such resource {request.path}")
    return route(site, request)


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
            request = Incoming(self.command, raw_path, query, body, self.headers)
            try:
                reply = respond(site, request)
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
