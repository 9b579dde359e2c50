"""A simulated Atlassian OAuth 2.0 (3LO) world on 127.0.0.1: two hosts, one state.

- ``auth_url`` stands for ``https://auth.atlassian.com`` (consent, ``/oauth/token``);
- ``api_url`` stands for ``https://api.atlassian.com`` (``accessible-resources``,
  ``/me``, ``/ex/jira/{cloudId}/rest/api/3/myself``,
  ``/ex/confluence/{cloudId}/wiki/rest/api/user/current``).

::

    with OAuthServer() as atlassian:
        alana = atlassian.add_account("Alana Grant", "alana@example.com")
        site = atlassian.add_site("Acme", "https://acme.atlassian.net")
        settings.ATLASSIAN_CONNECT = {**conf, **atlassian.settings()}
        ...
        atlassian.counters["refresh_requests"], atlassian.counters["reused_after_window"]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import requests

from ..forge.wire import Dispatch, Reply, Request, handler_for
from ..server import LocalHTTPServer
from .api import ApiHost
from .auth import Consent, token_endpoint
from .state import Account, Family, OAuthState, Site

__all__ = ["OAuthServer"]


class _Host(LocalHTTPServer):
    def __init__(self, dispatch: Dispatch) -> None:
        super().__init__()
        self._dispatch = dispatch

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self._dispatch)


class OAuthServer:
    """The authorization server and the API gateway for 3LO tokens.

    ``auto_consent=True`` (tests): ``GET /authorize`` redirects straight back
    with a code for the consenting account (``consent_as``; default the first
    added). ``False``: a consent page with Accept and Deny. ``access_ttl`` is
    the access tokens' life in seconds; ``clock`` the server's time source.
    """

    def __init__(
        self,
        *,
        client_id: str = "simulated-3lo-client",
        client_secret: str = "simulated-3lo-secret-0123456789abcdef",  # noqa: S107 - a test double
        access_ttl: int = 3600,
        auto_consent: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = OAuthState(
            client_id=client_id, client_secret=client_secret, access_ttl=access_ttl, clock=clock
        )
        self.consent = Consent(self.state, auto=auto_consent)
        self.api = ApiHost(self.state)
        self._auth = _Host(self._auth_answer)
        self._api = _Host(self.api.answer)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        self._auth.start()
        self._api.start()
        return self

    def stop(self) -> None:
        self._auth.stop()
        self._api.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def auth_url(self) -> str:
        return self._auth.url

    @property
    def api_url(self) -> str:
        return self._api.url

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    def settings(self) -> dict[str, Any]:
        """The ``ATLASSIAN_CONNECT`` entries that point an app at this server."""
        return {
            "OAUTH_CLIENT_ID": self.client_id,
            "OAUTH_CLIENT_SECRET": self.client_secret,
            "OAUTH_AUTH_URL": self.auth_url,
            "API_URL": self.api_url,
        }

    def env(self) -> dict[str, str]:
        """The example project's environment variables for this server."""
        return {
            "CONNECT_OAUTH_CLIENT_ID": self.client_id,
            "CONNECT_OAUTH_CLIENT_SECRET": self.client_secret,
            "CONNECT_OAUTH_AUTH_URL": self.auth_url,
            "CONNECT_API_URL": self.api_url,
        }

    def _auth_answer(self, request: Request) -> Reply:
        if request.path == "/authorize" and request.method in ("GET", "POST"):
            return self.consent.authorize(request)
        if request.path == "/oauth/token" and request.method == "POST":
            return token_endpoint(self.state, request)
        return Reply(404, {"error": "not_found", "error_description": request.path})

    # -- who is who ------------------------------------------------------------------

    def add_account(self, name: str, email: str = "", account_id: str | None = None) -> Account:
        return self.state.add_account(name, email, account_id)

    def add_site(
        self,
        name: str,
        url: str,
        cloud_id: str | None = None,
        products: tuple[str, ...] = ("jira",),
    ) -> Site:
        """A site every later consent gives access to."""
        return self.state.add_site(name, url, cloud_id, products)

    def consent_as(self, account: Account | str) -> None:
        self.consent.account_id = account if isinstance(account, str) else account.account_id

    def deny_next(self, error: str = "access_denied", description: str = "") -> None:
        """The next ``GET /authorize`` redirects back with ``error`` (the user declined)."""
        self.consent.deny_next(error, description)

    # -- what tests look at and do -----------------------------------------------------

    @property
    def counters(self) -> Any:
        """``refresh_requests``, ``refreshes``, ``reused_in_window``, ``reused_after_window``,
        ``code_exchanges``, ``families_revoked``, and one per error string answered."""
        return self.state.counters

    @property
    def authorize_requests(self) -> list[dict[str, str]]:
        return self.consent.requests

    def families(self, account: Account | None = None) -> list[Family]:
        with self.state.lock:
            found = list(self.state.families.values())
        return [f for f in found if account is None or f.account.account_id == account.account_id]

    def advance(self, seconds: float) -> None:
        self.state.advance(seconds)

    def expire_access_tokens(self, account: Account | None = None) -> int:
        """The gateway refuses every current access token (of ``account``'s grants)."""
        families = self.families(account) if account is not None else [None]
        return sum(self.state.expire_access_tokens(family) for family in families)

    def revoke(self, account: Account | None = None) -> int:
        """The user removes the app from their account: every grant (of ``account``) ends."""
        families = self.families(account)
        for family in families:
            self.state.revoke(family)
        return len(families)

    def consent_redirect(self, authorize_url: str) -> str:
        """Follow ``authorize_url`` as the user's browser would: the ``Location`` it answers
        (the app's callback with ``code`` and ``state``, or ``error``)."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code != 302:
            raise AssertionError(f"/authorize answered {response.status_code}: {response.text}")
        return response.headers["Location"]

    def issue_code(self, redirect_uri: str, scopes: list[str] | None = None) -> str:
        """A code for the consenting account, as ``/authorize`` would give (no browser)."""
        account = self.consent._account()
        return self.state.issue_code(
            account, scopes or ["read:me", "read:jira-user", "offline_access"], redirect_uri
        )

    @staticmethod
    def query_of(url: str) -> dict[str, str]:
        """The query parameters of a URL (each first value)."""
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
