"""The product's REST API: authorise each call, then answer it from a route table.

A call is refused (with the exact reason) when the site rate-limits it, the app
is not installed, its credentials do not verify (``credentials.py``), its
points quota is spent (``quota.py``; every answer then carries the
``X-RateLimit-*`` headers), or the app's scopes lack what the method needs.
Otherwise :data:`ROUTES`, keyed by (product, method, path pattern), picks the
handler; no route is a 404.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .credentials import CredentialChecker
from .quota import Quota, QuotaPolicy
from .state import Account, Refusal

#: the scope a method needs (READ is also granted by WRITE or ADMIN)
SCOPE_FOR_METHOD = {
    "GET": "READ",
    "HEAD": "READ",
    "POST": "WRITE",
    "PUT": "WRITE",
    "PATCH": "WRITE",
    "DELETE": "DELETE",
}

#: ``(status, JSON body, headers)``
Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Call:
    """One authorised REST call, as a route handler sees it."""

    method: str
    path: str  # without Confluence's /wiki
    query: str
    who: Account
    is_app: bool
    params: dict[str, str]  # the path pattern's named groups
    accounts: dict[str, Account]  # the site's users

    def echo(self) -> list[list[str]]:
        """The query's pairs, in order, so tests can see what reached the product."""
        return [list(p) for p in parse_qsl(self.query, keep_blank_values=True)]


Handler = Callable[[Call], Answer]


def _jira_myself(call: Call) -> Answer:
    body = {
        "accountId": call.who.account_id,
        "accountType": "app" if call.is_app else "atlassian",
        "displayName": call.who.display_name,
        "emailAddress": call.who.email,
        "active": True,
    }
    return 200, body, {}


def _jira_recent_projects(call: Call) -> Answer:
    projects = [
        {"id": "10000", "key": "DEMO", "name": "Demo project"},
        {"id": "10001", "key": "OPS", "name": "Operations"},
    ]
    return 200, projects, {}


def _jira_issue(call: Call) -> Answer:
    key = call.params["key"]
    if key.startswith(("DEMO-", "OPS-")):
        fields = {"summary": f"Issue {key}", "reporter": {"accountId": next(iter(call.accounts))}}
        return 200, {"key": key, "fields": fields}, {}
    message = f"Issue {key} does not exist or you do not have permission to see it."
    return 404, {"errorMessages": [message]}, {}


def _jira_permissions(call: Call) -> Answer:
    return 200, {"permissions": {"ADMINISTER": {"key": "ADMINISTER", "type": "GLOBAL"}}}, {}


def _jira_search(call: Call) -> Answer:
    return 200, {"echo": call.echo(), "issues": []}, {}


def _confluence_current_user(call: Call) -> Answer:
    body = {
        "accountId": call.who.account_id,
        "type": "app" if call.is_app else "known",
        "displayName": call.who.display_name,
    }
    return 200, body, {}


def _confluence_content(call: Call) -> Answer:
    return 200, {"results": [{"id": "65537", "title": "Welcome"}], "echo": call.echo()}, {}


#: (product, method, path regex matched in full) -> handler. Add a resource here.
ROUTES: dict[tuple[str, str, str], Handler] = {
    ("jira", "GET", r"/rest/api/3/myself"): _jira_myself,
    ("jira", "GET", r"/rest/api/3/project/recent"): _jira_recent_projects,
    # The key is the last segment, whatever comes before it (as the product's 404 names it).
    ("jira", "GET", r"/rest/api/3/issue/(?:.*/)?(?P<key>[^/]*)"): _jira_issue,
    ("jira", "GET", r"/rest/api/3/permissions"): _jira_permissions,
    ("jira", "GET", r"/rest/api/3/search"): _jira_search,
    ("jira", "POST", r"/rest/api/3/search"): _jira_search,
    ("confluence", "GET", r"/rest/api/user/current"): _confluence_current_user,
    ("confluence", "GET", r"/rest/api/content"): _confluence_content,
}
_COMPILED = [(key, re.compile(key[2], re.DOTALL), handler) for key, handler in ROUTES.items()]


def route(product: str, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler for a call and the path pattern's named groups, or ``None``."""
    for (route_product, route_method, _), pattern, handler in _COMPILED:
        if route_product == product and route_method == method:
            match = pattern.fullmatch(path)
            if match:
                return handler, match.groupdict()
    return None


class ProductRest(CredentialChecker):
    #: Seconds each REST answer takes (a real site: tens of milliseconds); set it on
    #: the host (``host.rest_latency = 0.05``) to measure work bound by the product.
    rest_latency: float = 0.0

    def handle_rest(
        self, method: str, raw_path: str, query: str, authorization: str
    ) -> tuple[int, Any, dict[str, str]]:
        """Route and authorise one REST call of the app (``JWT`` or ``Bearer``)."""
        if self.rest_latency:
            time.sleep(self.rest_latency)
        self._admit()
        principal, scopes = self._principal(method, raw_path, query, authorization)
        quota_headers = self._charge_quota()
        try:
            status, body, headers = self._answer(method, raw_path, query, principal, scopes)
        except Refusal as refusal:
            refusal.headers.update(quota_headers)
            raise
        return status, body, {**headers, **quota_headers}

    def enforce_quota(
        self, policy: QuotaPolicy | None, *, clock: Callable[[], float] = time.time
    ) -> Quota | None:
        """Charge the app's REST calls against ``policy`` from now on (``None``: no quota)."""
        self.quota = Quota(policy, clock) if policy is not None else None
        return self.quota

    def _charge_quota(self) -> dict[str, str]:
        """The quota headers of this call; a 429 once the points are spent."""
        if self.quota is None:
            return {}
        allowed, headers = self.quota.charge(self.client_key)
        if not allowed:
            raise Refusal(429, f"rate limited: {self.quota.policy.reason}", headers)
        return headers

    def rest_as_user(
        self, account_id: str, method: str, raw_path: str, query: str = ""
    ) -> tuple[int, Any, dict[str, str]]:
        """A call the app's page makes with ``AP.request``: as the signed-in user, within
        the app's scopes (the browser holds the user's session; no app credentials)."""
        self._admit()
        account = self.accounts.get(account_id)
        if account is None:
            raise Refusal(401, f"no user {account_id!r} on this site")
        return self._answer(method, raw_path, query, account, self.app_scopes)

    def _admit(self) -> None:
        """Refuse every call while rate-limited (simulated) or not installed."""
        with self._lock:
            if self.rate_limit:
                retry_after = self.rate_limit.pop(0)
                raise Refusal(429, "rate limited (simulated)", {"Retry-After": f"{retry_after:g}"})
        if not self.installed:
            raise Refusal(401, "the app is not installed on this site")

    def _principal(
        self, method: str, raw_path: str, query: str, authorization: str
    ) -> tuple[Account, frozenset[str]]:
        """Who the app's credentials act as, and with which scopes."""
        scheme, _, credentials = authorization.partition(" ")
        if scheme == "JWT":
            self.verify_app_jwt(credentials.strip(), method, raw_path, query)
            return self.app_user, self.app_scopes
        if scheme == "Bearer":
            issued = self.verify_bearer(credentials.strip())
            return self.accounts[issued.account_id], issued.scopes & self.app_scopes
        if not authorization:
            raise Refusal(401, "no Authorization header: send 'JWT <token>' or 'Bearer <token>'")
        raise Refusal(
            401,
            f"the {scheme!r} scheme is not accepted for Connect app calls; use JWT or Bearer",
        )

    def _answer(
        self, method: str, raw_path: str, query: str, principal: Account, scopes: frozenset[str]
    ) -> tuple[int, Any, dict[str, str]]:
        """Check the scope ``method path`` needs, then answer it from :data:`ROUTES`."""
        path = raw_path
        if self.product == "confluence":
            if not path.startswith("/wiki/"):
                raise Refusal(404, f"no such resource {path}: Confluence paths start with /wiki")
            path = path[len("/wiki") :]
        needed = SCOPE_FOR_METHOD.get(method, "READ")
        if path.endswith("/permissions") or path.startswith("/rest/api/3/permissions"):
            needed = "ADMIN"
        if needed not in scopes and not (needed == "READ" and scopes & {"WRITE", "ADMIN"}):
            raise Refusal(
                403, f"the app's scopes {sorted(scopes)} lack {needed}, which {method} {path} needs"
            )
        found = route(self.product, method, path)
        if found is None:
            return 404, {"message": f"no such resource: {method} {path}"}, {}
        handler, params = found
        call = Call(
            method, path, query, principal, principal is self.app_user, params, self.accounts
        )
        return handler(call)
