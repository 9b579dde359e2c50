"""The simulated ``https://auth.atlassian.com``: consent and the token endpoint.

- ``GET /authorize``: checks the parameters Atlassian requires (``audience``,
  ``client_id``, ``scope``, ``redirect_uri``, ``response_type=code``; ``state``
  is passed back). With ``auto_consent`` (tests) it redirects at once to
  ``redirect_uri?code=...&state=...`` as the consenting account; otherwise
  it shows a consent page whose buttons POST the decision back. A test can
  make the next authorization fail (``deny_next``): the redirect then
  carries ``error`` instead of ``code``.
- ``POST /oauth/token``: a JSON body only (a form body is ``invalid_request``,
  as Atlassian's endpoint does), rules in :mod:`.state`.
"""

from __future__ import annotations

import html
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..forge.wire import Reply, Request
from .state import OAuthState, TokenError

AUDIENCE = "api.atlassian.com"


class Consent:
    """How ``/authorize`` answers: who consents, automatically or through the page."""

    def __init__(self, state: OAuthState, *, auto: bool = True) -> None:
        self.state = state
        self.auto = auto
        self.account_id: str | None = None  # None: the first account added
        self.callback_urls: list[str] | None = None  # None: any redirect_uri
        self.requests: list[dict[str, str]] = []
        self._deny: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def deny_next(self, error: str = "access_denied", description: str = "") -> None:
        with self._lock:
            self._deny.append((error, description or f"simulated {error}"))

    def _account(self) -> Any:
        accounts = self.state.accounts
        if self.account_id is not None:
            return accounts[self.account_id]
        return next(iter(accounts.values()))

    def authorize(self, request: Request) -> Reply:
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if request.method == "POST":
            params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        else:
            with self._lock:
                self.requests.append(params)
        problem = self._check(params)
        if problem:
            return Reply(
                400,
                f"<h1>Invalid authorization request</h1><p>{html.escape(problem)}</p>",
                content_type="text/html",
            )
        with self._lock:
            denied = self._deny.pop(0) if self._deny and request.method == "GET" else None
        if denied is not None:
            return self._back(params, {"error": denied[0], "error_description": denied[1]})
        if request.method == "GET" and not self.auto:
            return Reply(200, self._page(params), content_type="text/html; charset=utf-8")
        if request.method == "POST" and params.get("decision") != "accept":
            return self._back(
                params, {"error": "access_denied", "error_description": "User did not authorize"}
            )
        scopes = params["scope"].split()
        code = self.state.issue_code(self._account(), scopes, params["redirect_uri"])
        return self._back(params, {"code": code})

    def _check(self, params: dict[str, str]) -> str:
        if params.get("client_id") != self.state.client_id:
            return f"unknown client_id {params.get('client_id')!r}"
        if params.get("audience") != AUDIENCE:
            return f"audience must be {AUDIENCE}, not {params.get('audience')!r}"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if not params.get("scope"):
            return "scope is required"
        redirect_uri = params.get("redirect_uri") or ""
        if not redirect_uri.startswith(("http://", "https://")):
            return "redirect_uri is required"
        if self.callback_urls is not None and redirect_uri not in self.callback_urls:
            return f"redirect_uri {redirect_uri} is not a callback URL of this app"
        if not self.state.accounts:
            return "no account to consent as (add_account first)"
        return ""

    @staticmethod
    def _back(params: dict[str, str], extra: dict[str, str]) -> Reply:
        query = {**extra, **({"state": params["state"]} if "state" in params else {})}
        separator = "&" if "?" in params["redirect_uri"] else "?"
        location = params["redirect_uri"] + separator + urlencode(query)
        return Reply(302, b"", {"Location": location}, content_type="text/plain")

    def _page(self, params: dict[str, str]) -> str:
        account = self._account()
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params["scope"].split())
        return (
            "<!doctype html><title>Simulated Atlassian consent</title>"
            f"<h1>Allow the app to access your Atlassian account?</h1>"
            f"<p>Signed in as {html.escape(account.name)}</p><ul>{scopes}</ul>"
            f'<form method="post" action="/authorize">{hidden}'
            '<button name="decision" value="accept" id="accept">Accept</button> '
            '<button name="decision" value="deny" id="deny">Deny</button></form>'
        )


def token_endpoint(state: OAuthState, request: Request) -> Reply:
    """``POST /oauth/token``."""
    content_type = request.headers.get("content-type", "")
    body = request.json() if content_type.startswith("application/json") else None
    try:
        return Reply(200, state.token_request(body))
    except TokenError as refusal:
        return Reply(
            refusal.status, {"error": refusal.error, "error_description": refusal.description}
        )
