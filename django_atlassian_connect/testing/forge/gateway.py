"""A stand-in for ``https://api.atlassian.com`` on 127.0.0.1.

Each call goes through the same steps: record it, apply an injected failure
(:meth:`ApiGateway.fail_next`, :meth:`ApiGateway.rate_limit`), find the route
(``routes.py``), check the bearer token, answer. Only tokens this gateway
issued are accepted, each until its own expiry; a token of one installation
used on another installation's cloudId is a 403. Refusals name their reason
in ``detail`` (the real gateway says less). The ``offlineUserAuthToken``
mutation follows :attr:`ApiGateway.impersonation` (``impersonation.py``):
which ``contextIds`` forms it takes, and whether the app may impersonate.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from ..server import LocalHTTPServer
from . import impersonation
from .impersonation import ImpersonationPolicy
from .records import Directory, Installation
from .routes import Call, route
from .tokens import SYSTEM, USER, IssuedToken, TokenIssuer
from .wire import Reply, Request, handler_for


class Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body)
        self.reply = reply


def _unauthorized(detail: str) -> Refused:
    body = {"code": 401, "message": "Unauthorized", "detail": detail}
    return Refused(Reply(401, body, {"WWW-Authenticate": 'Bearer realm="api.atlassian.com"'}))


def _forbidden(detail: str) -> Refused:
    return Refused(Reply(403, {"code": 403, "message": "Forbidden", "detail": detail}))


class ApiGateway(LocalHTTPServer):
    """The product API gateway. ``url`` stands for ``https://api.atlassian.com``.

    ``tokens`` issues and remembers every token; ``log`` records every call
    as ``{"method", "path", "query", "token_kind", "token", "installation_id",
    "account_id", "status", "detail"}`` where ``token_kind`` is ``system``,
    ``user``, ``offline``, ``unknown`` (not ours) or ``None`` (no bearer) and
    ``token`` is the token's fingerprint; an ``offlineUserAuthToken`` call also
    logs the ``context_ids`` it sent. ``impersonation`` is the
    :class:`~.impersonation.ImpersonationPolicy` of that mutation (default: the
    site form only, impersonation allowed).
    """

    def __init__(self, directory: Directory, tokens: TokenIssuer | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.tokens = tokens or TokenIssuer()
        self.log: list[dict[str, Any]] = []
        self._failures: list[Reply] = []
        self._lock = threading.Lock()
        self.impersonation = ImpersonationPolicy()

    # -- what a test uses ------------------------------------------------------

    def issue_system_token(self, installation: Installation | str | None = None) -> IssuedToken:
        return self.tokens.issue(SYSTEM, self.directory.installation(installation).id)

    def issue_user_token(
        self, account_id: str, installation: Installation | str | None = None
    ) -> IssuedToken:
        return self.tokens.issue(USER, self.directory.installation(installation).id, account_id)

    def fail_next(
        self, status: int = 401, count: int = 1, *, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` calls with ``status`` (any route, before auth)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        reply = Reply(status, {"code": status, "message": "simulated failure"}, headers)
        with self._lock:
            self._failures.extend([reply] * count)

    def rate_limit(self, retry_after: float = 1.0, count: int = 1) -> None:
        """Answer the next ``count`` calls with 429 and ``Retry-After``."""
        self.fail_next(429, count, retry_after=retry_after)

    def calls(self, token_kind: str | None = None) -> list[dict[str, Any]]:
        """The logged calls, optionally only those that carried ``token_kind``."""
        return [e for e in self.log if token_kind is None or e["token_kind"] == token_kind]

    # -- HTTP ------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        token = self._bearer(request)
        record = self.tokens.lookup(token) if token else None
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "token_kind": record.kind if record else ("unknown" if token else None),
            "token": record.fingerprint if record else None,
            "installation_id": record.installation_id if record else None,
            "account_id": record.account_id if record else None,
        }
        if request.path == "/graphql":
            sent = impersonation.requested_context_ids(request.json())
            if sent is not None:
                entry["context_ids"] = sent
        try:
            reply = self._respond(request, token, record)
        except Refused as refusal:
            reply = refusal.reply
            entry["detail"] = reply.body.get("detail") if isinstance(reply.body, dict) else None
        entry["status"] = reply.status
        # Logged before answering: a caller that has the answer finds the entry.
        with self._lock:
            self.log.append(entry)
        return reply

    @staticmethod
    def _bearer(request: Request) -> str | None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return (credentials.strip() or None) if scheme.lower() == "bearer" else None

    def _respond(self, request: Request, token: str | None, record: IssuedToken | None) -> Reply:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure
        found = route(request.method, request.path)
        if found is None:
            return Reply(404, {"code": 404, "message": f"no such resource {request.path}"})
        target, params = found
        installation = None
        if "cloud_id" in params:
            installation = self.directory.by_cloud_id(params["cloud_id"])
            if installation is None or installation.product != params.get("product"):
                return Reply(404, {"code": 404, "message": f"no {params['product']} site here"})
        if not target.anonymous:
            record = self._authorise(request, token, record, installation)
            installation = installation or self.directory.installation(record.installation_id)
        call = Call(request, params, installation, record, self.directory, self.tokens)
        if request.path == "/graphql":
            offline = impersonation.answer(call, self.impersonation)
            if offline is not None:
                return offline
        return target.handler(call)

    def _authorise(
        self,
        request: Request,
        token: str | None,
        record: IssuedToken | None,
        installation: Installation | None,
    ) -> IssuedToken:
        if token is None:
            raise _unauthorized("no 'Authorization: Bearer <token>' header")
        if record is None:
            raise _unauthorized("this gateway never issued that token")
        if record.remaining(self.tokens.clock()) <= 0:
            raise _unauthorized(f"the {record.kind} token has expired")
        if installation is not None and installation.id != record.installation_id:
            raise _forbidden(
                f"a {record.kind} token of installation {record.installation_id}"
                f" used on site {installation.cloud_id} of installation {installation.id}"
            )
        return record
