"""What the simulated site knows, shared by every part of it.

The records (accounts, shared secrets, issued bearer tokens), the two errors
(:class:`HostError` toward the test, :class:`Refusal` toward the app) and
:class:`SiteState`, the base every part of :class:`ConnectHost` builds on:
its attributes, the values derived from the app's descriptor, and the one
outbound path to the app. Of this package it imports only ``quota`` (no more).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from ..keyserver import InstallKeyPair
from ..server import LocalHTTPServer
from .quota import Quota, QuotaPolicy

#: ``transport(method, url, json_body, headers) -> response`` delivers the
#: product's requests to the app (default: real HTTP with ``requests``). The
#: response needs ``status_code``, ``content``, ``headers`` and ``json()``.
Transport = Callable[[str, str, Any, dict[str, str]], Any]


class HostError(AssertionError):
    """The app answered the simulated product unexpectedly."""

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


@dataclass
class Account:
    account_id: str
    display_name: str
    email: str = ""
    admin: bool = False


@dataclass
class IssuedToken:
    account_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Refusal(Exception):
    """The site refuses the app's call: ``status``, the exact reason, extra headers."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SecretRecord:
    secret: str
    since: float
    retired_at: float | None = None


@dataclass
class ContextTokenRecord:
    """A context token the site's AP bridge gave a page (``AP.context.getToken()``)."""

    account_id: str
    token: str
    issued_at: int
    expires_at: int
    secret: str = field(default="", repr=False)  # the shared secret that signed it
    session: str = field(default="", repr=False)  # the page session it was given to


class SiteState(LocalHTTPServer):
    """The site's state; the parts of :class:`ConnectHost` add behaviour on top."""

    def __init__(
        self,
        *,
        product: str = "jira",
        client_key: str | None = None,
        oauth_client_id: str | None = None,
        accounts: Iterable[Account] | None = None,
        port: int = 0,
        app_scopes: Iterable[str] | None = None,
        transport: Transport | None = None,
        context_token_lifetime: int = 900,
        quota: QuotaPolicy | None = None,
        install_key: InstallKeyPair | None = None,
    ) -> None:
        if product not in ("jira", "confluence"):
            raise ValueError("product is 'jira' or 'confluence'")
        self.product = product
        self.client_key = client_key or f"{product}:{uuid.uuid4()}"
        self.oauth_client_id = oauth_client_id or secrets.token_urlsafe(24)
        # Atlassian signs every site's installs with the same few keys: sites made
        # in bulk may share one (and skip generating an RSA key each).
        self.key = install_key or InstallKeyPair()
        self.accounts = {a.account_id: a for a in (accounts or self.default_accounts())}
        self.app_user = Account(
            "557058:" + str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_key)), "Connect app user"
        )
        super().__init__(port)
        #: overrides the descriptor's scopes (simulate an install not yet upgraded)
        self.app_scopes_override = (
            frozenset(s.upper() for s in app_scopes) if app_scopes is not None else None
        )
        self.descriptor: dict[str, Any] | None = None
        self.descriptor_url: str | None = None
        self.secrets: list[SecretRecord] = []
        self.installed = False
        self.enabled = False
        self.issued: dict[str, IssuedToken] = {}
        self.grants = 0
        self.log: list[dict[str, Any]] = []
        self.rate_limit: list[float] = []  # Retry-After values for the next REST calls
        #: the points quota REST calls are charged against (``enforce_quota``); None: no quota
        self.quota: Quota | None = Quota(quota) if quota is not None else None
        self.fail_token_endpoint: list[int] = []  # statuses for the next grant requests
        self.transport = transport
        #: seconds a context token lives (``AP.context.getToken()``, ``context_token()``);
        #: make it short to see a page ask for a fresh one
        self.context_token_lifetime = context_token_lifetime
        #: every context token the AP bridge gave a page, oldest first
        self.context_tokens: list[ContextTokenRecord] = []
        #: browser page sessions: session id -> signed-in account id (see ``bridge``)
        self.page_sessions: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def default_accounts() -> list[Account]:
        return [
            Account("5b10ac8d82e05b22cc7d4ef5", "Alana Grant", "alana@example.com", admin=True),
            Account("5b10a2844c20165700ede21g", "Boris Petrov", "boris@example.com"),
        ]

    @property
    def base_url(self) -> str:
        """The site's baseUrl as an app sees it (``.../wiki`` for Confluence)."""
        return self.url + ("/wiki" if self.product == "confluence" else "")

    @property
    def keys_url(self) -> str:
        return self.url + "/keys"

    @property
    def shared_secret(self) -> str:
        if not self.secrets:
            raise HostError("the app is not installed yet")
        return self.secrets[-1].secret

    @property
    def app_key(self) -> str:
        return self._descriptor()["key"]

    @property
    def app_base_url(self) -> str:
        return self._descriptor()["baseUrl"].rstrip("/")

    @property
    def app_scopes(self) -> frozenset[str]:
        if self.app_scopes_override is not None:
            return self.app_scopes_override
        return frozenset(s.upper() for s in (self.descriptor or {}).get("scopes", ["READ"]))

    def _descriptor(self) -> dict[str, Any]:
        if self.descriptor is None:
            raise HostError("fetch the app's descriptor first (install() does)")
        return self.descriptor

    def _http(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """Every request the product sends the app goes through here (``transport`` or HTTP)."""
        if self.transport is not None:
            return self.transport(method, url, body, headers or {})
        return requests.request(method, url, json=body, headers=headers, timeout=30)


def response_text(response: Any) -> str:
    """An app's response body as text, for error messages."""
    return bytes(response.content).decode("utf-8", "replace")
