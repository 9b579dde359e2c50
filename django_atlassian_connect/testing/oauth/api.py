"""The simulated ``https://api.atlassian.com`` for 3LO tokens, as a route table.

Every route needs ``Authorization: Bearer <access token>`` issued by the
simulated authorization server, unexpired, of a grant not revoked; a call
on a site the grant does not include is a 401 (as the gateway answers).
Each call is logged (``log``) with the token's fingerprint, never the token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..forge.wire import Reply, Request
from .state import Family, OAuthState, Site, fingerprint


@dataclass(frozen=True)
class Call:
    request: Request
    family: Family
    site: Site | None  # the path's cloudId, on /ex/... routes


def _resources(call: Call) -> Reply:
    body = [
        {
            "id": site.cloud_id,
            "url": site.url,
            "name": site.name,
            "scopes": [s for s in call.family.scopes if s != "offline_access"],
            "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
        }
        for site in call.family.sites
    ]
    return Reply(200, body)


def _me(call: Call) -> Reply:
    if "read:me" not in call.family.scopes:
        return Reply(403, {"code": 403, "message": "Unauthorized; scope does not match"})
    account = call.family.account
    body = {
        "account_type": "atlassian",
        "account_id": account.account_id,
        "email": account.email,
        "name": account.name,
        "nickname": account.name.split()[0] if account.name else "",
        "account_status": "active",
    }
    return Reply(200, body)


def _jira_myself(call: Call) -> Reply:
    account = call.family.account
    body = {
        "accountId": account.account_id,
        "accountType": "atlassian",
        "emailAddress": account.email,
        "displayName": account.name,
        "active": True,
        "timeZone": "UTC",
    }
    return Reply(200, body)


def _confluence_current(call: Call) -> Reply:
    account = call.family.account
    body = {
        "type": "known",
        "accountId": account.account_id,
        "accountType": "atlassian",
        "displayName": account.name,
        "publicName": account.name,
    }
    return Reply(200, body)


_CLOUD = r"(?P<cloud_id>[0-9a-fA-F-]{36})"
#: (method, path regex matched in full) -> handler. ``product``/``cloud_id`` groups are
#: checked against the grant's sites first.
ROUTES: dict[tuple[str, str], Callable[[Call], Reply]] = {
    ("GET", r"/oauth/token/accessible-resources"): _resources,
    ("GET", r"/me"): _me,
    ("GET", rf"/ex/(?P<product>jira)/{_CLOUD}/rest/api/3/myself"): _jira_myself,
    ("GET", rf"/ex/(?P<product>confluence)/{_CLOUD}/wiki/rest/api/user/current"): (
        _confluence_current
    ),
}
_COMPILED = [(m, re.compile(p), h) for (m, p), h in ROUTES.items()]


class ApiHost:
    """Answers the API host's calls; ``log`` records them."""

    def __init__(self, state: OAuthState) -> None:
        self.state = state
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def calls(self, path_end: str = "") -> list[dict[str, Any]]:
        return [e for e in self.log if e["path"].endswith(path_end)]

    def answer(self, request: Request) -> Reply:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "token": fingerprint(token) if token else None,
        }
        reply = self._respond(request, token)
        entry["status"] = reply.status
        if reply.status >= 400 and isinstance(reply.body, dict):
            entry["detail"] = reply.body.get("detail") or reply.body.get("message")
        with self._lock:
            self.log.append(entry)  # before answering: a caller with the answer finds it
        return reply

    @staticmethod
    def _route(request: Request) -> tuple[Callable[[Call], Reply], dict[str, str]] | None:
        for method, pattern, handler in _COMPILED:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler, match.groupdict()
        return None

    def _respond(self, request: Request, token: str) -> Reply:
        found = self._route(request)
        if found is None:
            return Reply(404, {"code": 404, "message": f"no such resource {request.path}"})
        handler, params = found
        family, why = self.state.access_family(token) if token else (None, "no bearer token")
        if family is None:
            return Reply(
                401,
                {"code": 401, "message": "Unauthorized", "detail": why},
                {"WWW-Authenticate": 'Bearer realm="api.atlassian.com"'},
            )
        site = None
        if "cloud_id" in params:
            site = next((s for s in family.sites if s.cloud_id == params["cloud_id"]), None)
            if site is None or params["product"] not in site.products:
                return Reply(
                    401,
                    {
                        "code": 401,
                        "message": "Unauthorized; scope does not match",
                        "detail": f"the grant gives no access to {params['product']} site "
                        f"{params['cloud_id']}",
                    },
                )
        return handler(Call(request, family, site))
