"""A stand-in for Atlassian on 127.0.0.1 for API tokens and service accounts.

One server answers for three Atlassian hosts at once: ``site_url``
(``http://localhost:<port>``) stands for the site, ``url``
(``http://127.0.0.1:<port>``) for the authorization server and the gateway;
two origins, as in production.

- **a site** (``https://acme.atlassian.net``): ``/rest/api/3/...`` with classic
  API tokens (Basic ``email:token``). As Jira Cloud does, a pair it does not
  accept makes the call run **anonymously** (``myself`` 401 "Client must be
  authenticated...", an issue 404 "Issue does not exist or you do not have
  permission to see it."); an expired token is a 401; a bearer token is a 401.
- **the authorization server**: ``POST /oauth/token`` with the client-credentials
  grant (JSON body) for service accounts; 60-minute tokens.
- **the API gateway**: ``/ex/{product}/{cloudId}/...`` with scoped API tokens
  (Basic) or the service accounts' bearer tokens; classic tokens are refused there.

::

    with CredentialsSimulator() as atlassian:
        token = atlassian.add_api_token("ada@example.com", scoped=True)
        client_id, secret = atlassian.add_service_account()
        settings.ATLASSIAN_CONNECT = {..., "API_URL": atlassian.url,
                                      "OAUTH_AUTH_URL": atlassian.url}

Every call is in ``log`` (``method``, ``path``, ``auth`` = ``basic``/``bearer``/
``None``, ``principal`` = an accountId or ``"anonymous"``, ``status``); every
token request in ``token_requests``. No token appears in either.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import jwt

from .forge.wire import Reply, Request, handler_for
from .server import LocalHTTPServer

__all__ = ["AUTHENTICATE_FIRST", "ISSUE_NOT_FOUND", "CredentialsSimulator", "SimulatedApiToken"]

AUTHENTICATE_FIRST = "Client must be authenticated to access this resource."
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
#: What Atlassian's own access tokens carry as ``iss`` (the doctor recognises it).
ATLASSIAN_ISSUER = "https://auth.atlassian.com"
ANONYMOUS = "anonymous"
_GATEWAY = re.compile(r"^/ex/(?P<product>jira|confluence)/(?P<cloud_id>[^/]+)(?P<rest>/.*)?$")


@dataclass
class SimulatedApiToken:
    """An API token of one account. Kept out of ``repr()``: the token itself."""

    token: str = field(repr=False)
    email: str
    account_id: str
    scoped: bool
    expires_at: float
    revoked: bool = False


@dataclass
class _ServiceAccount:
    client_id: str
    secret: str = field(repr=False)
    account_id: str
    revoked: bool = False


@dataclass
class _Bearer:
    client_id: str
    account_id: str
    expires_at: float


class CredentialsSimulator(LocalHTTPServer):
    """Site, authorization server and gateway for API tokens and service accounts.

    ``cloud_id`` is the simulated site's (a new UUID by default); ``token_ttl`` the
    lifetime of service-account tokens (3600 s, as Atlassian's); ``token_delay``
    seconds the token endpoint waits before answering (to make callers overlap);
    ``clock`` the time the server goes by.
    """

    def __init__(
        self,
        *,
        cloud_id: str | None = None,
        token_ttl: int = 3600,
        token_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.cloud_id = cloud_id or str(uuid.uuid4())
        self.token_ttl = token_ttl
        self.token_delay = token_delay
        self.clock = clock
        self.issues: dict[str, dict[str, Any]] = {"DEMO-1": {"summary": "The first issue"}}
        self.log: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self._api_tokens: dict[str, SimulatedApiToken] = {}
        self._service_accounts: dict[str, _ServiceAccount] = {}
        self._bearers: dict[str, _Bearer] = {}
        self._failures: list[Reply] = []
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    # -- what a test sets up --------------------------------------------------------

    def add_api_token(
        self, email: str, *, scoped: bool = False, expires_in: float = 365 * 86400
    ) -> str:
        """A new API token of ``email``'s account (1 year by default, as since 2024-12-15)."""
        token = "ATATT3x" + secrets.token_urlsafe(48)
        account_id = self._account_for(email)
        with self._lock:
            self._api_tokens[token] = SimulatedApiToken(
                token, email, account_id, scoped, self.clock() + expires_in
            )
        return token

    def expire_api_token(self, token: str) -> None:
        self._api_tokens[token].expires_at = self.clock() - 1

    def revoke_api_token(self, token: str) -> None:
        self._api_tokens[token].revoked = True

    def add_service_account(self, name: str = "automation") -> tuple[str, str]:
        """A service account with one OAuth 2.0 credential: ``(client_id, secret)``."""
        client_id = f"{name}-{secrets.token_hex(8)}"
        secret = "ATOA" + secrets.token_urlsafe(48)
        with self._lock:
            self._service_accounts[client_id] = _ServiceAccount(
                client_id, secret, f"712020:{uuid.uuid4()}"
            )
        return client_id, secret

    def revoke_service_account(self, client_id: str) -> None:
        self._service_accounts[client_id].revoked = True

    def expire_access_tokens(self) -> None:
        """Every service-account token issued so far stops being accepted."""
        with self._lock:
            for bearer in self._bearers.values():
                bearer.expires_at = self.clock() - 1

    def fail_next(
        self, status: int = 503, count: int = 1, *, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` calls (any path) with ``status``."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        with self._lock:
            self._failures.extend(
                [Reply(status, {"message": "simulated failure"}, headers)] * count
            )

    @property
    def site_url(self) -> str:
        """The simulated site (``https://acme.atlassian.net``): another origin than ``url``."""
        return f"http://localhost:{self.port}"

    def calls(self, path_prefix: str = "") -> list[dict[str, Any]]:
        return [entry for entry in self.log if entry["path"].startswith(path_prefix)]

    def _account_for(self, email: str) -> str:
        for known in self._api_tokens.values():
            if known.email == email:
                return known.account_id
        return f"5b10a2844c20165700ede{secrets.token_hex(3)}"

    # -- HTTP ------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self._answer)

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        entry: dict[str, Any]
        if failure is not None:
            reply, entry = failure, {"auth": None, "principal": None}
        elif request.headers.get("host", "").lower().startswith("localhost"):
            reply, entry = self._site(request)
        elif request.path == "/oauth/token":
            reply, entry = self._token_endpoint(request), {"auth": None, "principal": None}
        else:
            gateway = _GATEWAY.match(request.path)
            if gateway is not None:
                reply, entry = self._gateway(request, gateway)
            else:
                reply = Reply(404, {"code": 404, "message": f"no such resource {request.path}"})
                entry = {"auth": None, "principal": None}
        entry.update(method=request.method, path=request.path, status=reply.status)
        with self._lock:
            self.log.append(entry)
        return reply

    def _token_endpoint(self, request: Request) -> Reply:
        if self.token_delay:
            time.sleep(self.token_delay)
        body = request.json() if "json" in request.headers.get("content-type", "") else None
        body = body if isinstance(body, dict) else {}
        client_id = str(body.get("client_id") or "")
        record: dict[str, Any] = {"client_id": client_id, "grant_type": body.get("grant_type")}
        reply = self._issue(body, client_id)
        record["status"] = reply.status
        with self._lock:
            self.token_requests.append(record)
        return reply

    def _issue(self, body: dict[str, Any], client_id: str) -> Reply:
        if not body:
            return _oauth_error(400, "invalid_request", "The body must be JSON.")
        if body.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials here.")
        account = self._service_accounts.get(client_id)
        if (
            account is None
            or account.revoked
            or not secrets.compare_digest(str(body.get("client_secret") or ""), account.secret)
        ):
            return _oauth_error(401, "access_denied", "Unauthorized")
        now = self.clock()
        claims = {
            "iss": ATLASSIAN_ISSUER,
            "aud": "api.atlassian.com",
            "sub": account.account_id,
            "client_id": client_id,
            "iat": int(now),
            "exp": int(now + self.token_ttl),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        with self._lock:
            self._bearers[token] = _Bearer(client_id, account.account_id, now + self.token_ttl)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": "read:jira-user read:jira-work",
            },
        )

    def _basic(self, request: Request) -> tuple[str, SimulatedApiToken | None] | None:
        """``(email, token record or None)`` of a Basic header, else ``None``."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            email, _, token = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", None
        found = self._api_tokens.get(token)
        return email, (found if found is not None and found.email == email else None)

    def _bearer(self, request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None

    def _site(self, request: Request) -> tuple[Reply, dict[str, Any]]:
        """A site URL: classic tokens, or the call runs as anonymous."""
        principal, auth = ANONYMOUS, None
        basic = self._basic(request)
        if basic is not None:
            auth = "basic"
            _email, found = basic
            if found is not None and not found.revoked and found.expires_at <= self.clock():
                return _unauthorized("The API token has expired."), {
                    "auth": auth,
                    "principal": None,
                }
            if found is not None and not found.revoked and not found.scoped:
                principal = found.account_id
        elif self._bearer(request) is not None:
            # OAuth tokens go through the gateway; the site does not take them.
            return _unauthorized(AUTHENTICATE_FIRST), {"auth": "bearer", "principal": None}
        entry = {"auth": auth, "principal": principal}
        return self._resource(request, request.path, principal, "jira"), entry

    def _gateway(self, request: Request, match: re.Match[str]) -> tuple[Reply, dict[str, Any]]:
        if match["cloud_id"] != self.cloud_id:
            return Reply(404, {"message": "Site not found"}), {"auth": None, "principal": None}
        principal, auth, refused = None, None, "no credentials"
        basic, bearer = self._basic(request), self._bearer(request)
        if basic is not None:
            auth = "basic"
            _email, found = basic
            if found is None or found.revoked:
                refused = "the email/token pair is not known"
            elif not found.scoped:
                refused = "only API tokens with scopes are accepted through the gateway"
            elif found.expires_at <= self.clock():
                refused = "the API token has expired"
            else:
                principal = found.account_id
        elif bearer is not None:
            auth = "bearer"
            known = self._bearers.get(bearer)
            if known is None:
                refused = "this token was not issued here"
            elif known.expires_at <= self.clock():
                refused = "the access token has expired"
            elif self._service_accounts[known.client_id].revoked:
                refused = "the credential was revoked"
            else:
                principal = known.account_id
        entry = {"auth": auth, "principal": principal}
        if principal is None:
            reply = Reply(401, {"code": 401, "message": "Unauthorized", "detail": refused})
            return reply, entry
        return self._resource(request, match["rest"] or "/", principal, match["product"]), entry

    def _resource(self, request: Request, path: str, principal: str, product: str) -> Reply:
        if request.method == "GET" and path == "/redirect":
            # A redirect to another origin: the client must not send its credentials there.
            to = parse_qs(request.query).get("to", [""])[0]
            return Reply(302, b"", {"Location": to}, "text/plain")
        if product == "confluence":
            if path == "/wiki/rest/api/user/current" and principal != ANONYMOUS:
                return Reply(200, {"accountId": principal, "type": "known"})
            return Reply(404, {"message": "Not found"})
        if path == "/rest/api/3/myself":
            if principal == ANONYMOUS:
                return _unauthorized(AUTHENTICATE_FIRST)
            return Reply(200, {"accountId": principal, "active": True})
        issue = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)", path)
        if issue is not None:
            if principal == ANONYMOUS or issue[1] not in self.issues:
                return Reply(404, {"errorMessages": [ISSUE_NOT_FOUND], "errors": {}})
            return Reply(200, {"key": issue[1], "fields": self.issues[issue[1]]})
        return Reply(404, {"errorMessages": ["Not found"], "errors": {}})


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def _unauthorized(message: str) -> Reply:
    return Reply(
        401,
        {"errorMessages": [message]},
        {
            "WWW-Authenticate": 'OAuth realm="https://acme.atlassian.net"',
            "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
        },
    )
