"""The AP bridge, the site's side: the scripts it serves, and the two calls that need its server.

An app's page loads ``<url>/atlassian-connect/all.js`` (``static/all.js``), the
simulated twin of Atlassian's ``https://connect-cdn.atl-paas.net/all.js``: the
same ``AP`` names and signatures, for the subset real apps use. It talks to the
site's page (``static/host.js``) over ``postMessage``; each side accepts only
the other's origin and window.

Most calls the page answers itself (``AP.resize``, ``AP.flag.create``, ...).
Two need the site's server, as the user signed in on that page, whom a page
session (``X-Site-Session``, made by :meth:`APBridge.open_session` when the page
is served) names:

- ``POST /atlassian-connect/context-token``: ``AP.context.getToken()``. The site
  hands out the user's last token while it is still valid, a fresh one after it
  expired, as the product does: a page that lives longer than a token must ask
  again. ``ConnectHost(context_token_lifetime=...)`` sets how long one lives.
- ``POST /atlassian-connect/request``: ``AP.request()``, answered by the REST API
  as that user, within the app's scopes.

Both refuse a request whose ``Origin`` is not the site's own.
"""

from __future__ import annotations

import json
import secrets
import time
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

from .rest import ProductRest
from .state import ContextTokenRecord, Refusal
from .tokens import TokenMinter

#: what ``/atlassian-connect/<name>`` serves from ``static/``, with its content type
STATIC_FILES = {
    "all.js": "application/javascript; charset=utf-8",
    "host.js": "application/javascript; charset=utf-8",
    "host.css": "text/css; charset=utf-8",
}
#: page sessions kept; the oldest are forgotten first
MAX_SESSIONS = 1000


def static_file(name: str) -> str:
    """The text of ``static/<name>``, one of :data:`STATIC_FILES`."""
    if name not in STATIC_FILES:
        raise Refusal(404, f"no such file /atlassian-connect/{name}")
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


class APBridge(TokenMinter, ProductRest):
    @property
    def all_js_url(self) -> str:
        """The URL of the site's ``all.js``: the value for your ``AP_JS_URL`` setting."""
        return self.url + "/atlassian-connect/all.js"

    def open_session(self, account_id: str) -> str:
        """A page session for ``account_id``: the browser page sends it with each bridge call."""
        session = secrets.token_urlsafe(24)
        with self._lock:
            self.page_sessions[session] = account_id
            while len(self.page_sessions) > MAX_SESSIONS:
                del self.page_sessions[next(iter(self.page_sessions))]
        return session

    def session_account(self, session: str, origin: str) -> str:
        """The account signed in on the page that holds ``session``; refuse other origins."""
        # A page of another origin could still send a simple POST here; this
        # check (and the custom header, which needs a CORS preflight the site
        # never grants) keeps it from acting as the user.
        if origin != self.url:
            raise Refusal(
                403,
                f"bridge calls come from the site's own page ({self.url}), "
                f"not from {origin or 'a request without Origin'}",
            )
        account_id = self.page_sessions.get(session)
        if account_id is None:
            raise Refusal(401, "unknown page session: reload the site's page")
        return account_id

    def bridge_context_token(self, session: str, origin: str) -> dict[str, Any]:
        """``AP.context.getToken()`` on the page of ``session``: its last token while valid,
        else a fresh one (recorded in :attr:`context_tokens`)."""
        account_id = self.session_account(session, origin)
        now = time.time()
        # Reuse until (nearly) expired, as the product's page does.
        margin = min(60, self.context_token_lifetime // 10)
        current = self.shared_secret
        with self._lock:
            for record in reversed(self.context_tokens):
                if record.session != session:
                    continue
                if record.expires_at - margin > now and record.secret == current:
                    return {"token": record.token, "exp": record.expires_at}
                break
            token = self.context_token(account_id, now=now)
            issued = int(now)
            record = ContextTokenRecord(
                account_id, token, issued, issued + self.context_token_lifetime, current, session
            )
            self.context_tokens.append(record)
        return {"token": token, "exp": record.expires_at}

    def bridge_request(self, session: str, origin: str, options: dict[str, Any]) -> dict[str, Any]:
        """``AP.request(options)`` on the page of ``session``: the REST API's answer to the
        signed-in user's call, as the page sees it."""
        account_id = self.session_account(session, origin)
        url = str(options.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            raise Refusal(
                400,
                f"AP.request takes a path on the site (such as /rest/api/3/myself), not {url!r}",
            )
        method = str(options.get("type") or "GET").upper()
        query = parts.query
        data = options.get("data")
        if method in ("GET", "HEAD") and isinstance(data, dict) and data:
            query = "&".join(q for q in (query, urlencode(data, doseq=True)) if q)
        path = parts.path
        if self.product == "confluence" and not path.startswith("/wiki/"):
            path = "/wiki" + path  # AP.request paths are relative to the site's context path
        try:
            status, payload, headers = self.rest_as_user(account_id, method, path, query)
        except Refusal as refusal:
            status, payload, headers = refusal.status, {"message": refusal.message}, refusal.headers
        self.log.append(
            {
                "direction": "in",
                "via": "AP.request",
                "method": method,
                "path": path,
                "query": query,
                "auth": "session",
                "account_id": account_id,
                "status": status,
            }
        )
        return {
            "status": status,
            "statusText": HTTPStatus(status).phrase,
            "body": json.dumps(payload),
            "headers": {
                "content-type": "application/json",
                **{k.lower(): v for k, v in headers.items()},
            },
        }
