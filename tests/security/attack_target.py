"""The attack suite's target: the running example app, its install key and its tenants."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

from django_atlassian_connect.qsh import query_string_hash
from django_atlassian_connect.testing import (
    InstallKeyPair,
    InstallKeyServer,
    install_token,
    request_token,
)
from tests.security.support import new_secret

APP_KEY = "com.example.django-connect-demo"
ACCOUNT = "557058:f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"
HELLO = "/hello?xdm_e=https%3A%2F%2Fsite.atlassian.net&cp=&lic=none"
WEBHOOK = "/webhooks/issue-created"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Site:
    client_key: str
    secret: str
    base_url: str


@dataclass
class Target:
    """The running example app, its database, the install key and the tenants."""

    running: Any
    key: InstallKeyPair
    key_server: InstallKeyServer
    sites: dict[str, Site] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.base_url

    # -- tokens ----------------------------------------------------------------

    def install_token(self, site: Site, path: str = "/installed", **claims: Any) -> str:
        return install_token(
            self.key, client_key=site.client_key, app_base_url=self.url, path=path, **claims
        )

    def install_claims(self, site: Site, path: str = "/installed", **overrides: Any) -> dict:
        now = int(time.time())
        claims = {
            "iss": site.client_key,
            "aud": [self.url],
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", path, self.url),
            "context": {},
        }
        claims.update(overrides)
        return claims

    def rs256(self, claims: dict, key: InstallKeyPair | None = None, **headers: Any) -> str:
        key = key or self.key
        return jwt.encode(
            claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid, **headers}
        )

    def page_token(self, site: Site, url: str = HELLO, method: str = "GET", **claims: Any) -> str:
        return request_token(
            client_key=site.client_key,
            secret=claims.pop("secret", site.secret),
            method=method,
            url=url,
            app_base_url=self.url,
            account_id=ACCOUNT,
            **claims,
        )

    def page_claims(self, site: Site, url: str = HELLO, method: str = "GET", **overrides: Any):
        now = int(time.time())
        claims = {
            "iss": site.client_key,
            "sub": ACCOUNT,
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash(method, url, self.url),
            "context": {},
        }
        claims.update(overrides)
        return claims

    # -- requests --------------------------------------------------------------

    def body(self, site: Site, event: str = "installed", **overrides: Any) -> dict:
        body = {
            "key": APP_KEY,
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "productType": "jira",
            "description": "Attack suite site",
            "oauthClientId": "oc-" + site.client_key[-6:],
            "eventType": event,
        }
        if event == "installed":
            body["sharedSecret"] = site.secret
        body.update(overrides)
        return body

    def post(
        self,
        path: str,
        body: Any = None,
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return requests.post(self.url + path, headers=headers, timeout=30, **kwargs)

    def get(
        self, path: str, token: str | None = None, *, headers: dict[str, str] | None = None
    ) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        return requests.get(self.url + path, headers=headers, timeout=30)

    def page_with_query_token(self, site: Site, token: str | None = None) -> requests.Response:
        token = token or self.page_token(site)
        return requests.get(f"{self.url}{HELLO}&jwt={token}", timeout=30)


def new_site(label: str) -> Site:
    return Site(
        client_key=f"jira:{uuid.uuid4()}",
        secret=new_secret(),
        base_url=f"https://{label}-{uuid.uuid4().hex[:6]}.atlassian.net",
    )
