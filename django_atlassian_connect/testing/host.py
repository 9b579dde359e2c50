"""A simulated Atlassian site (Jira or Confluence Cloud) for testing Connect apps.

:class:`ConnectHost` behaves like the product toward an app: it fetches the
app's descriptor, installs it with a signed install, rotates the shared
secret by reinstalling, enables/disables/uninstalls, mints iframe and context
tokens, sends webhooks, and serves a small REST API and the OAuth 2.0
JWT-bearer token endpoint that verify every request strictly. Unlike the real
product, every refusal says exactly why.

One HTTP server on 127.0.0.1 serves it all:

- ``<url>/keys/<kid>``: the install-key CDN (``INSTALL_KEYS_URL = host.keys_url``)
- ``<url>/oauth2/token``: the authorization server (``AUTHORIZATION_SERVER_URL = host.url``)
- ``<base_url>/rest/...``: the product REST API (``base_url`` ends in ``/wiki``
  for Confluence)
- ``<url>/``: a page listing the app's pages, each shown in an iframe as a
  user of the site would see it.

Run it by hand: ``python -m django_atlassian_connect.testing.host --help``.
"""

from __future__ import annotations

import argparse
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import requests

from ..qsh import CONTEXT_QSH, canonical_request, hash_canonical_request, query_string_hash
from .keyserver import InstallKeyPair
from .server import LocalHTTPServer

__all__ = ["Account", "ConnectHost", "HostError", "Transport"]

#: ``transport(method, url, json_body, headers) -> response`` delivers the
#: product's requests to the app (default: real HTTP with ``requests``). The
#: response needs ``status_code``, ``content``, ``headers`` and ``json()``.
Transport = Callable[[str, str, Any, dict[str, str]], Any]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_FOR_METHOD = {
    "GET": "READ",
    "HEAD": "READ",
    "POST": "WRITE",
    "PUT": "WRITE",
    "PATCH": "WRITE",
    "DELETE": "DELETE",
}
_UNSET: Any = object()


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
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SecretRecord:
    secret: str
    since: float
    retired_at: float | None = None


class ConnectHost(LocalHTTPServer):
    """A simulated Jira/Confluence Cloud site on 127.0.0.1.

    Start it (``with ConnectHost() as host`` or ``host.start()``), point the
    app's ``INSTALL_KEYS_URL`` at ``host.keys_url`` and
    ``AUTHORIZATION_SERVER_URL`` at ``host.url``, allow ``127.0.0.1`` in
    ``ALLOWED_PRODUCT_HOSTS``, then ``host.install(descriptor_url)``.
    """

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
    ) -> None:
        if product not in ("jira", "confluence"):
            raise ValueError("product is 'jira' or 'confluence'")
        self.product = product
        self.client_key = client_key or f"{product}:{uuid.uuid4()}"
        self.oauth_client_id = oauth_client_id or secrets.token_urlsafe(24)
        self.key = InstallKeyPair()
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
        self.fail_token_endpoint: list[int] = []  # statuses for the next grant requests
        self.transport = transport
        self._lock = threading.Lock()

    @staticmethod
    def default_accounts() -> list[Account]:
        return [
            Account("5b10ac8d82e05b22cc7d4ef5", "Alana Grant", "alana@example.com", admin=True),
            Account("5b10a2844c20165700ede21g", "Boris Petrov", "boris@example.com"),
        ]

    # -- server ----------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

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

    # -- acting as the product toward the app ---------------------------------

    def _http(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        if self.transport is not None:
            return self.transport(method, url, body, headers or {})
        return requests.request(method, url, json=body, headers=headers, timeout=30)

    def fetch_descriptor(self, descriptor_url: str) -> dict[str, Any]:
        response = self._http("GET", descriptor_url)
        if response.status_code != 200:
            raise HostError(f"GET {descriptor_url} answered {response.status_code}", response)
        try:
            descriptor = response.json()
        except ValueError as exc:
            raise HostError(f"{descriptor_url} is not JSON", response) from exc
        for name in ("key", "baseUrl", "lifecycle"):
            if name not in descriptor:
                raise HostError(f"the descriptor has no {name!r}", response)
        migrations = descriptor.get("apiMigrations", {})
        if not migrations.get("signed-install"):
            raise HostError("the descriptor does not opt into signed-install")
        self.descriptor, self.descriptor_url = descriptor, descriptor_url
        return descriptor

    def payload(self, event: str, secret: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": self.product,
            "description": f"Simulated {self.product} site",
            "serviceEntitlementNumber": "SEN-0000001",
            "oauthClientId": self.oauth_client_id,
            "eventType": event,
        }
        if secret is not None:
            body["sharedSecret"] = secret
        return body

    def _lifecycle_url(self, event: str) -> tuple[str, str]:
        path = self._descriptor()["lifecycle"].get(event)
        if not path:
            raise HostError(f"the descriptor names no {event} callback")
        return path, self.app_base_url + path

    def install_token(self, path: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_key,
            "aud": [self.app_base_url],
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", path, self.app_base_url),
            "context": {},
        }
        claims.update(overrides)
        return jwt.encode(
            claims, self.key.private_pem, algorithm="RS256", headers={"kid": self.key.kid}
        )

    def _deliver(self, event: str, token: str, body: dict[str, Any], expect: int | None) -> Any:
        _, url = self._lifecycle_url(event)
        response = self._http("POST", url, body, {"Authorization": f"JWT {token}"})
        self.log.append({"direction": "out", "event": event, "status": response.status_code})
        if expect is not None and response.status_code != expect:
            raise HostError(
                f"{event} callback answered {response.status_code}: {_text(response)[:500]}",
                response,
            )
        return response

    def install(
        self,
        descriptor_url: str | None = None,
        *,
        rotate_secret: bool = False,
        expect: int | None = 204,
    ) -> Any:
        """``installed`` (signed install). A first install or ``rotate_secret`` sends a new secret.

        Like the product, the site switches to a new secret only once the app
        answered 2xx.
        """
        if descriptor_url or self.descriptor is None:
            if not (descriptor_url or self.descriptor_url):
                raise HostError("install() needs the app's descriptor URL")
            self.fetch_descriptor(descriptor_url or self.descriptor_url)  # type: ignore[arg-type]
        new = not self.secrets or rotate_secret
        secret = "ATCO" + secrets.token_urlsafe(48) if new else self.shared_secret
        path, _ = self._lifecycle_url("installed")
        response = self._deliver(
            "installed", self.install_token(path), self.payload("installed", secret), expect
        )
        if 200 <= response.status_code < 300:
            if new:
                now = time.time()
                if self.secrets:
                    self.secrets[-1].retired_at = now
                self.secrets.append(SecretRecord(secret, now))
            self.installed = True
            self.enabled = True
        return response

    def uninstall(self, *, expect: int | None = 204) -> Any:
        path, _ = self._lifecycle_url("uninstalled")
        response = self._deliver(
            "uninstalled", self.install_token(path), self.payload("uninstalled"), expect
        )
        if 200 <= response.status_code < 300:
            self.installed = False
            self.issued.clear()
        return response

    def _hs_callback(self, event: str, expect: int | None) -> Any:
        path, _ = self._lifecycle_url(event)
        token = self.request_token("POST", path)
        return self._deliver(event, token, self.payload(event), expect)

    def enable(self, *, expect: int | None = 204) -> Any:
        response = self._hs_callback("enabled", expect)
        if 200 <= response.status_code < 300:
            self.enabled = True
        return response

    def disable(self, *, expect: int | None = 204) -> Any:
        response = self._hs_callback("disabled", expect)
        if 200 <= response.status_code < 300:
            self.enabled = False
        return response

    # -- tokens the product gives the app's front end -----------------------------

    def request_token(
        self,
        method: str,
        url: str,
        *,
        account_id: str | None = None,
        secret: str | None = None,
        now: float | None = None,
        lifetime: int = 180,
    ) -> str:
        """A product-signed token for ``method url`` (iframe page, webhook, callback)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.client_key,
            "iat": issued,
            "exp": issued + lifetime,
            "qsh": query_string_hash(method, url, self.app_base_url),
            "context": {},
        }
        if account_id:
            claims["sub"] = account_id
        return jwt.encode(claims, secret or self.shared_secret, algorithm="HS256")

    def context_token(
        self, account_id: str | None = None, *, secret: str | None = None, lifetime: int = 900
    ) -> str:
        """What ``AP.context.getToken()`` gives the app's front end."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_key,
            "iat": now,
            "exp": now + lifetime,
            "qsh": CONTEXT_QSH,
            "context": {},
        }
        if account_id:
            claims["sub"] = account_id
        return jwt.encode(claims, secret or self.shared_secret, algorithm="HS256")

    def page_url(
        self, module_key_or_path: str, *, account_id: str | None = None, **params: str
    ) -> str:
        """The iframe URL of a page module (or a path), with context parameters and jwt."""
        path = self._module_url(module_key_or_path)
        query = {
            "xdm_e": self.url,
            "xdm_c": f"channel-{module_key_or_path.strip('/')}",
            "cp": "/wiki" if self.product == "confluence" else "",
            "lic": "none",
            "tz": "Europe/Paris",
            "loc": "en-US",
            "user_id": "",
            "user_key": "",
            **params,
        }
        url = f"{path}?{urlencode(query)}"
        token = self.request_token("GET", url, account_id=account_id)
        return f"{self.app_base_url}{url}&jwt={token}"

    def _module_url(self, module_key_or_path: str) -> str:
        if module_key_or_path.startswith("/"):
            return module_key_or_path
        for modules in self._descriptor().get("modules", {}).values():
            for module in modules if isinstance(modules, list) else [modules]:
                if isinstance(module, dict) and module.get("key") == module_key_or_path:
                    return str(module["url"]).split("?", 1)[0]
        raise HostError(f"the descriptor has no module {module_key_or_path!r}")

    def send_webhook(self, event: str, payload: dict[str, Any], *, expect: int | None = 200) -> Any:
        """POST a webhook to every URL the descriptor registers for ``event``."""
        hooks = [
            h
            for h in self._descriptor().get("modules", {}).get("webhooks", [])
            if h.get("event") == event
        ]
        if not hooks:
            raise HostError(f"the descriptor registers no webhook for {event!r}")
        response = None
        for hook in hooks:
            path = hook["url"]
            token = self.request_token("POST", path)
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": event, **payload}
            response = self._http(
                "POST", self.app_base_url + path, body, {"Authorization": f"JWT {token}"}
            )
            if expect is not None and response.status_code != expect:
                raise HostError(
                    f"webhook {event} answered {response.status_code}: {_text(response)[:300]}",
                    response,
                )
        assert response is not None
        return response

    # -- the product's side: verifying what the app sends -------------------------

    def verify_app_jwt(self, token: str, method: str, raw_path: str, query: str) -> None:
        """Verify an app's JWT strictly; raise :class:`Refusal` with the exact reason."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"the JWT cannot be decoded: {exc}") from exc
        if header.get("alg") != "HS256":
            raise Refusal(401, f"the JWT algorithm is {header.get('alg')!r}; expected HS256")
        iss = claims.get("iss")
        if iss == self.client_key:
            raise Refusal(
                401, f"iss is the clientKey {iss!r}; expected the app key {self.app_key!r}"
            )
        if iss != self.app_key:
            raise Refusal(401, f"iss is {iss!r}; expected the app key {self.app_key!r}")
        try:
            jwt.decode(
                token,
                self.shared_secret,
                algorithms=["HS256"],
                options={"require": ["iat", "exp", "qsh"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Refusal(
                401, f"the JWT expired at {claims.get('exp')} (now {int(time.time())})"
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise Refusal(
                401,
                f"the JWT was issued in the future (iat {claims.get('iat')}, now {int(time.time())})",
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Refusal(401, f"the JWT lacks the claim {exc.claim!r}") from exc
        except jwt.InvalidSignatureError as exc:
            for record in reversed(self.secrets[:-1]):
                try:
                    jwt.decode(
                        token, record.secret, algorithms=["HS256"], options={"verify_exp": False}
                    )
                except jwt.PyJWTError:
                    continue
                raise Refusal(
                    401,
                    "the JWT is signed with a previous shared secret (replaced at "
                    f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(record.retired_at or 0))}); "
                    "use the secret of the latest installed callback",
                ) from exc
            raise Refusal(
                401, "the JWT signature does not verify with the site's shared secret"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"the JWT is invalid: {exc}") from exc
        url = f"{raw_path}?{query}" if query else raw_path
        canonical = canonical_request(method, url, self.base_url)
        if claims.get("qsh") == CONTEXT_QSH:
            raise Refusal(
                401, "the JWT carries qsh 'context-qsh', which the REST API does not accept"
            )
        if claims.get("qsh") != hash_canonical_request(canonical):
            raise Refusal(
                401,
                f"qsh mismatch: we hashed {canonical!r}, the token carries {claims.get('qsh')!r}",
            )

    def verify_bearer(self, token: str) -> IssuedToken:
        issued = self.issued.get(token)
        if issued is None:
            raise Refusal(
                401,
                "Client must be authenticated to access this resource: the bearer token was "
                "not issued by this site's authorization server",
            )
        if issued.expires_at < time.time():
            raise Refusal(401, "the bearer token expired")
        return issued

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The OAuth 2.0 JWT-bearer grant; raise :class:`Refusal` like the real server."""
        with self._lock:
            self.grants += 1
            if self.fail_token_endpoint:
                status = self.fail_token_endpoint.pop(0)
                raise Refusal(
                    status,
                    json.dumps({"error": "server_error", "error_description": "simulated failure"}),
                )
        if form.get("grant_type") != GRANT_TYPE:
            raise _oauth_error("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if "ACT_AS_USER" not in self.app_scopes:
            raise _oauth_error(
                "unauthorized_client",
                "The authenticated client is not authorized to use this authorization grant type "
                "(the app's descriptor lacks the ACT_AS_USER scope)",
            )
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(
                assertion,
                self.shared_secret,
                algorithms=["HS256"],
                audience=self.url,
                options={"require": ["iss", "sub", "tnt", "aud", "iat", "exp"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise _oauth_error("invalid_grant", f"the assertion is invalid: {exc}") from exc
        if claims["iss"] != f"urn:atlassian:connect:clientid:{self.oauth_client_id}":
            raise _oauth_error(
                "invalid_grant", f"iss {claims['iss']!r} is not this installation's oauthClientId"
            )
        if claims["tnt"] != self.base_url:
            raise _oauth_error(
                "invalid_grant",
                f"tnt {claims['tnt']!r} is not the site's baseUrl {self.base_url!r}",
            )
        prefix = "urn:atlassian:connect:useraccountid:"
        if not str(claims["sub"]).startswith(prefix):
            raise _oauth_error("invalid_grant", f"sub must start with {prefix}")
        account_id = claims["sub"][len(prefix) :]
        if account_id not in self.accounts:
            raise _oauth_error(
                "invalid_grant", f"no user with accountId {account_id!r} on this site"
            )
        requested = frozenset(form.get("scope", "").upper().split())
        if not requested <= self.app_scopes:
            raise _oauth_error(
                "invalid_scope",
                f"scopes {sorted(requested - self.app_scopes)} are not in the descriptor",
            )
        token = secrets.token_urlsafe(32)
        self.issued[token] = IssuedToken(
            account_id, requested or self.app_scopes, time.time() + 900
        )
        return {"access_token": token, "token_type": "Bearer", "expires_in": 900}

    def handle_rest(
        self, method: str, raw_path: str, query: str, authorization: str
    ) -> tuple[int, Any, dict[str, str]]:
        """Route and authorise one REST call."""
        with self._lock:
            if self.rate_limit:
                retry_after = self.rate_limit.pop(0)
                raise Refusal(429, "rate limited (simulated)", {"Retry-After": f"{retry_after:g}"})
        if not self.installed:
            raise Refusal(401, "the app is not installed on this site")
        scheme, _, credentials = authorization.partition(" ")
        if scheme == "JWT":
            self.verify_app_jwt(credentials.strip(), method, raw_path, query)
            principal, scopes = self.app_user, self.app_scopes
        elif scheme == "Bearer":
            issued = self.verify_bearer(credentials.strip())
            principal, scopes = self.accounts[issued.account_id], issued.scopes & self.app_scopes
        elif not authorization:
            raise Refusal(401, "no Authorization header: send 'JWT <token>' or 'Bearer <token>'")
        else:
            raise Refusal(
                401,
                f"the {scheme!r} scheme is not accepted for Connect app calls; use JWT or Bearer",
            )
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
        return self._resource(method, path, query, principal)

    def _resource(
        self, method: str, path: str, query: str, who: Account
    ) -> tuple[int, Any, dict[str, str]]:
        is_app = who is self.app_user
        if self.product == "jira":
            if path == "/rest/api/3/myself" and method == "GET":
                return (
                    200,
                    {
                        "accountId": who.account_id,
                        "accountType": "app" if is_app else "atlassian",
                        "displayName": who.display_name,
                        "emailAddress": who.email,
                        "active": True,
                    },
                    {},
                )
            if path == "/rest/api/3/project/recent" and method == "GET":
                return (
                    200,
                    [
                        {"id": "10000", "key": "DEMO", "name": "Demo project"},
                        {"id": "10001", "key": "OPS", "name": "Operations"},
                    ],
                    {},
                )
            if path.startswith("/rest/api/3/issue/") and method == "GET":
                key = path.rsplit("/", 1)[-1]
                if key.startswith(("DEMO-", "OPS-")):
                    return (
                        200,
                        {
                            "key": key,
                            "fields": {
                                "summary": f"Issue {key}",
                                "reporter": {"accountId": next(iter(self.accounts))},
                            },
                        },
                        {},
                    )
                return (
                    404,
                    {
                        "errorMessages": [
                            f"Issue {key} does not exist or you do not have permission to see it."
                        ]
                    },
                    {},
                )
            if path == "/rest/api/3/permissions" and method == "GET":
                return (
                    200,
                    {"permissions": {"ADMINISTER": {"key": "ADMINISTER", "type": "GLOBAL"}}},
                    {},
                )
            if path == "/rest/api/3/search" and method in ("GET", "POST"):
                return (
                    200,
                    {
                        "echo": [list(p) for p in parse_qsl(query, keep_blank_values=True)],
                        "issues": [],
                    },
                    {},
                )
        else:
            if path == "/rest/api/user/current" and method == "GET":
                return (
                    200,
                    {
                        "accountId": who.account_id,
                        "type": "app" if is_app else "known",
                        "displayName": who.display_name,
                    },
                    {},
                )
            if path == "/rest/api/content" and method == "GET":
                return (
                    200,
                    {
                        "results": [{"id": "65537", "title": "Welcome"}],
                        "echo": [list(p) for p in parse_qsl(query, keep_blank_values=True)],
                    },
                    {},
                )
        return 404, {"message": f"no such resource: {method} {path}"}, {}

    # -- a browser view -----------------------------------------------------------------

    def browser_page(self, module: str | None) -> str:
        if not self.installed or self.descriptor is None:
            return "<h1>Simulated site</h1><p>The app is not installed.</p>"
        account = next(iter(self.accounts.values()))
        pages = [
            m
            for m in self.descriptor.get("modules", {}).get("generalPages", [])
            if isinstance(m, dict)
        ]
        links = "".join(
            f'<li><a href="/?module={html.escape(m["key"])}">{html.escape(str(m.get("name", {}).get("value", m["key"])))}</a></li>'
            for m in pages
        )
        frame = ""
        if module:
            src = self.page_url(module, account_id=account.account_id)
            frame = f'<iframe src="{html.escape(src)}" style="width:100%;height:70vh;border:1px solid #ccc"></iframe>'
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Simulated "
            f"{self.product} site</title></head><body><h1>Simulated {self.product} site</h1>"
            f"<p>Signed in as {html.escape(account.display_name)} ({account.account_id}). "
            f"App: {html.escape(self.app_key)}</p><ul>{links}</ul>{frame}</body></html>"
        )


def _text(response: Any) -> str:
    return bytes(response.content).decode("utf-8", "replace")


def _oauth_error(error: str, description: str) -> Refusal:
    return Refusal(400, json.dumps({"error": error, "error_description": description}))


def _handler_for(host: ConnectHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            data = (
                body
                if isinstance(body, bytes)
                else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
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
            headers: dict[str, str] = {}
            content_type = "application/json"
            payload: Any
            try:
                if raw_path.startswith("/keys/") and self.command == "GET":
                    if raw_path[len("/keys/") :] != host.key.kid:
                        raise Refusal(404, "no such key")
                    status, payload = 200, host.key.public_pem
                    content_type = "application/x-pem-file"
                elif raw_path == "/oauth2/token" and self.command == "POST":
                    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                    status, payload = 200, host.grant(form)
                elif raw_path in ("/", "") and self.command == "GET":
                    module = dict(parse_qsl(query)).get("module")
                    status, payload = 200, host.browser_page(module)
                    content_type = "text/html; charset=utf-8"
                elif raw_path.startswith(("/rest/", "/wiki/")):
                    status, payload, headers = host.handle_rest(
                        self.command, raw_path, query, self.headers.get("Authorization", "")
                    )
                else:
                    raise Refusal(404, f"no such resource {raw_path}")
            except Refusal as refusal:
                message = refusal.message
                status = refusal.status
                payload = json.loads(message) if message.startswith("{") else {"message": message}
                headers = dict(refusal.headers)
                if status == 401:
                    headers.setdefault("WWW-Authenticate", 'JWT realm="simulated-site"')
                entry["reason"] = payload
            entry["status"] = status
            # Logged before answering: a caller that got the answer finds the entry.
            host.log.append(entry)
            self._send(status, payload, headers, content_type=content_type)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m django_atlassian_connect.testing.host",
        description="Run a simulated Atlassian site and install a Connect app into it.",
    )
    parser.add_argument(
        "descriptor_url", nargs="?", help="the app's /atlassian-connect.json URL (installs it)"
    )
    parser.add_argument("--product", choices=["jira", "confluence"], default="jira")
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    args = parser.parse_args(argv)
    host = ConnectHost(product=args.product, port=args.port).start()
    print(f"Simulated {args.product} site on {host.url}")
    print(f"  INSTALL_KEYS_URL         = {host.keys_url}")
    print(f"  AUTHORIZATION_SERVER_URL = {host.url}")
    print("  ALLOWED_PRODUCT_HOSTS must include 127.0.0.1")
    if args.descriptor_url:
        host.install(args.descriptor_url)
        print(f"Installed {host.app_key} as {host.client_key}; open {host.url}/ in a browser.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()


if __name__ == "__main__":
    main()
