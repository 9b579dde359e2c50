"""What the simulated ``api.atlassian.com`` answers, as a route table.

:data:`ROUTES` maps (method, path pattern) to a :class:`Route`; the gateway
(``gateway.py``) authorises the call first and hands the handler a
:class:`Call` that already knows the installation and the token's identity.
Add a resource by adding a handler and a line to the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .records import Directory, ForgeAccount, Installation
from .tokens import OFFLINE, SYSTEM, IssuedToken, TokenIssuer
from .wire import Reply, Request

#: the reserved app property that holds a Connect-on-Forge installation's clientKey (§6)
CLIENT_KEY_PROPERTY = "connect_client_key_019cdff3-8bfb-71fe-9628-875b700aebb8"


@dataclass(frozen=True)
class Call:
    """One authorised gateway call, as a handler sees it."""

    request: Request
    params: dict[str, str]  # the path pattern's named groups
    installation: Installation | None  # from the path's cloudId, or the token's (GraphQL)
    token: IssuedToken | None  # None only on anonymous routes
    directory: Directory
    tokens: TokenIssuer

    def who(self) -> tuple[ForgeAccount, bool]:
        """The account the token acts as, and whether that is the app's bot."""
        if self.token is None or self.token.kind == SYSTEM:
            return self.directory.app_account, True
        return self.directory.accounts[str(self.token.account_id)], False


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    handler: Handler
    anonymous: bool = False  # answered without a bearer token


def _jira_myself(call: Call) -> Reply:
    account, is_app = call.who()
    body: dict[str, Any] = {
        "accountId": account.account_id,
        "accountType": "app" if is_app else "atlassian",
        "displayName": account.display_name,
        "active": True,
        "timeZone": "UTC",
    }
    if not is_app:
        body["emailAddress"] = account.email
    return Reply(200, body)


def _jira_server_info(call: Call) -> Reply:
    assert call.installation is not None
    body = {
        "baseUrl": call.installation.site_url,
        "displayUrl": call.installation.site_url,
        "deploymentType": "Cloud",
        "serverTitle": "Jira",
        "version": "1001.0.0-SNAPSHOT",
    }
    return Reply(200, body)


def _confluence_current_user(call: Call) -> Reply:
    account, is_app = call.who()
    body = {
        "type": "app" if is_app else "known",
        "accountId": account.account_id,
        "accountType": "app" if is_app else "atlassian",
        "displayName": account.display_name,
        "publicName": account.display_name,
    }
    return Reply(200, body)


def _connect_property(call: Call) -> Reply:
    assert call.installation is not None
    key, prop = call.params["connect_key"], call.params["property"]
    client_key = call.installation.connect_client_key
    if key == call.directory.connect_key and prop == CLIENT_KEY_PROPERTY and client_key:
        return Reply(200, {"key": prop, "value": client_key})
    return Reply(404, {"errorMessages": [f"Property with key {prop} not found for app {key}."]})


def _offline_failure(message: str) -> Reply:
    # The mutation reports its errors inside an HTTP 200 (§4.5).
    result = {"success": False, "errors": [{"message": message}], "authToken": None}
    return Reply(200, {"data": {"offlineUserAuthToken": result}})


def _graphql(call: Call) -> Reply:
    body = call.request.json()
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or "offlineUserAuthToken" not in query:
        message = "the simulated gateway only implements the offlineUserAuthToken mutation"
        return Reply(200, {"data": None, "errors": [{"message": message}]})
    assert call.token is not None and call.installation is not None
    if call.token.kind != SYSTEM:
        return _offline_failure("offlineUserAuthToken needs the app system token")
    variables = body.get("variables") or {}
    given = variables.get("input") if isinstance(variables, dict) else None
    given = given if isinstance(given, dict) else {}
    context_ids, user_id = given.get("contextIds"), given.get("userId")
    if not isinstance(context_ids, list) or call.installation.site_ari not in context_ids:
        return _offline_failure(
            f"contextIds {context_ids!r} do not name this installation's site"
            f" ({call.installation.site_ari})"
        )
    if user_id not in call.directory.accounts:
        return _offline_failure(f"user {user_id!r} not found")
    record = call.tokens.issue(OFFLINE, call.installation.id, user_id)
    ttl = int(record.expires_at - call.tokens.clock())
    result = {"success": True, "errors": [], "authToken": {"token": record.token, "ttl": ttl}}
    return Reply(200, {"data": {"offlineUserAuthToken": result}})


_CLOUD = r"(?P<cloud_id>[0-9a-fA-F-]{36})"
_PROPERTY = (
    r"/rest/atlassian-connect/1/addons/(?P<connect_key>[^/]+)/properties/(?P<property>[^/]+)"
)

#: (method, path regex matched in full) -> route. ``product`` and ``cloud_id``
#: groups are checked against the installations by the gateway.
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", rf"/ex/(?P<product>jira)/{_CLOUD}/rest/api/3/myself"): Route(_jira_myself),
    ("GET", rf"/ex/(?P<product>jira)/{_CLOUD}/rest/api/3/serverInfo"): Route(
        _jira_server_info, anonymous=True
    ),
    ("GET", rf"/ex/(?P<product>confluence)/{_CLOUD}/wiki/rest/api/user/current"): Route(
        _confluence_current_user
    ),
    ("GET", rf"/ex/(?P<product>jira)/{_CLOUD}{_PROPERTY}"): Route(_connect_property),
    ("GET", rf"/ex/(?P<product>confluence)/{_CLOUD}/wiki{_PROPERTY}"): Route(_connect_property),
    ("POST", r"/graphql"): Route(_graphql),
}
_COMPILED = [(method, re.compile(pattern), r) for (method, pattern), r in ROUTES.items()]


def route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a call and the pattern's named groups, or ``None``."""
    for route_method, pattern, found in _COMPILED:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return found, match.groupdict()
    return None
