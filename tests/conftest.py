"""Shared fixtures: a local install-key server, installed tenants, token minting."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from django.test import Client

from django_atlassian_connect.connect import install_keys
from django_atlassian_connect.testing import (
    InstallKeyPair,
    InstallKeyServer,
    context_token,
    install_token,
    request_token,
    reset_caches,
)

# The Forge platform fixtures live in tests/forge_support.py; the doctor helpers in
# tests/doctor_support.py.
from tests.forge_support import forge_settings, platform  # noqa: F401

APP_BASE_URL = "https://app.example.com"
APP_KEY = "com.example.tests"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture(scope="session")
def install_key() -> InstallKeyPair:
    return InstallKeyPair()


@pytest.fixture(scope="session")
def key_server(install_key: InstallKeyPair) -> Iterator[InstallKeyServer]:
    with InstallKeyServer(install_key) as server:
        yield server


@pytest.fixture(autouse=True)
def _connect_settings(settings: Any, key_server: InstallKeyServer) -> Iterator[None]:
    """Point INSTALL_KEYS_URL at the local key server; forget cached keys."""
    conf = dict(settings.ATLASSIAN_CONNECT)
    conf["INSTALL_KEYS_URL"] = key_server.url
    settings.ATLASSIAN_CONNECT = conf
    key_server.fail_with = None
    key_server.garbage = False
    from django.core.cache import cache

    cache.clear()
    reset_caches()  # keys, tenant snapshots, verified tokens, rate-limit writes: as users do
    yield
    install_keys.clear_memory_cache()


@dataclass
class Site:
    """A simulated Atlassian site installing the app through the test client."""

    client: Client
    key: InstallKeyPair
    client_key: str
    base_url: str
    secret: str
    oauth_client_id: str = "oauth-client-1"

    def payload(self, event: str = "installed", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": APP_KEY,
            "clientKey": self.client_key,
            "sharedSecret": self.secret,
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": "jira",
            "description": "Atlassian JIRA at " + self.base_url,
            "serviceEntitlementNumber": "SEN-1",
            "oauthClientId": self.oauth_client_id,
            "eventType": event,
        }
        if event != "installed":
            body.pop("sharedSecret")
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def signed(self, event: str = "installed", **claims: Any) -> str:
        return install_token(
            self.key,
            client_key=self.client_key,
            app_base_url=APP_BASE_URL,
            path=f"/{event}",
            **claims,
        )

    def post(self, event: str, body: Any, token: str | None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"JWT {token}"} if token else {}
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(f"/{event}", data=data, content_type="application/json", **headers)

    def install(self, secret: str | None = None, **overrides: Any) -> Any:
        if secret is not None:
            self.secret = secret
        return self.post(
            "installed", self.payload("installed", **overrides), self.signed("installed")
        )

    def uninstall(self) -> Any:
        return self.post("uninstalled", self.payload("uninstalled"), self.signed("uninstalled"))

    def hs_callback(self, event: str, **claims: Any) -> Any:
        token = request_token(
            client_key=self.client_key,
            secret=self.secret,
            method="POST",
            url=f"/{event}",
            app_base_url=APP_BASE_URL,
            **claims,
        )
        return self.post(event, self.payload(event), token)

    def page_token(self, url: str, method: str = "GET", **kwargs: Any) -> str:
        kwargs.setdefault("secret", self.secret)
        return request_token(
            client_key=self.client_key,
            method=method,
            url=url,
            app_base_url=APP_BASE_URL,
            account_id=kwargs.pop("account_id", ACCOUNT),
            **kwargs,
        )

    def context_token(self, **kwargs: Any) -> str:
        kwargs.setdefault("secret", self.secret)
        return context_token(
            client_key=self.client_key,
            account_id=kwargs.pop("account_id", ACCOUNT),
            **kwargs,
        )


@pytest.fixture
def site_factory(client: Client, install_key: InstallKeyPair, db: None) -> Any:
    def make() -> Site:
        suffix = uuid.uuid4().hex[:8]
        return Site(
            client=client,
            key=install_key,
            client_key=f"jira:{uuid.uuid4()}",
            base_url=f"https://site-{suffix}.atlassian.net",
            secret=f"ATCOsecret-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        )

    return make


@pytest.fixture
def site(site_factory: Any) -> Site:
    return site_factory()


@pytest.fixture
def installed_site(site: Site) -> Site:
    response = site.install()
    assert response.status_code == 204, response.content
    return site


@pytest.fixture
def tenant(installed_site: Site) -> Any:
    """The Tenant row of ``installed_site``."""
    from django_atlassian_connect.models import Tenant

    return Tenant.objects.get(client_key=installed_site.client_key)


def db_snapshot() -> dict[str, Any]:
    """Every row the app owns, to prove a refused request changed nothing."""
    from django_atlassian_connect.models import SharedSecret, Tenant

    return {
        "tenants": sorted(
            (
                t.client_key,
                t.base_url,
                t.is_installed,
                t.is_enabled,
                t.oauth_client_id,
                str(t.updated_at),
            )
            for t in Tenant.objects.all()
        ),
        "secrets": sorted(
            (s.tenant_id, s.fingerprint, str(s.retired_at)) for s in SharedSecret.objects.all()
        ),
    }


def assert_accepted(response: Any, site: Site, account_id: str | None = ACCOUNT) -> dict[str, Any]:
    """A test view (``tests/views.py``) answered 200 for ``site``'s tenant and ``account_id``
    (``None``: a token without ``sub``). Returns the JSON body."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["clientKey"] == site.client_key, body
    assert body["accountId"] == account_id, body
    return body


def assert_refused(
    refusal: Any,
    code: str,
    status: int = 401,
    scheme: str = "JWT",
    *,
    caplog: Any = None,
    never: tuple[str, ...] = (),
) -> Any:
    """``refusal`` refuses with ``code``: a view's response, or the error a verifier raised.

    Both carry the code, a detail and a hint, and the code's ``status``. A response of 401
    challenges with ``scheme`` (``WWW-Authenticate``, the code and its description), one of
    503 says when to retry. With ``caplog``: one WARNING line names the code and the hint,
    and no value of ``never`` (a token, a secret) is in the log. Returns the JSON body, or
    the error.
    """
    if isinstance(refusal, Exception):
        assert refusal.code == code, refusal.detail
        assert refusal.detail and refusal.hint
        assert refusal.status_code == status, refusal.code
        return refusal
    assert refusal.status_code == status, refusal.content
    body = refusal.json()
    assert body["code"] == code, body
    assert body["detail"] and body["hint"], body
    if status == 401:
        challenge = refusal["WWW-Authenticate"]
        assert challenge.startswith(f'{scheme} realm="{APP_KEY}", error="{code}"'), challenge
        assert "error_description=" in challenge, challenge
    elif status == 503:
        assert refusal["Retry-After"]
    if caplog is not None:
        import logging

        warnings = [
            r
            for r in caplog.records
            if r.name == "django_atlassian_connect" and r.levelno == logging.WARNING
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        message = warnings[0].getMessage()
        assert f"code={code}" in message and "hint=" in message
        assert warnings[0].connect_code == code
        for value in never:
            assert value not in caplog.text
    return body


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Mock the product over HTTP; local servers on 127.0.0.1 stay reachable."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1:")
        yield mock


def install_into_live_server(
    settings: Any,
    live_server: Any,
    host: Any,
    scopes: tuple[str, ...] = ("READ", "WRITE", "ACT_AS_USER"),
) -> Any:
    """Point the app at the simulated ``host`` and install it through ``live_server``."""
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "BASE_URL": live_server.url,
        "INSTALL_KEYS_URL": host.keys_url,
        "AUTHORIZATION_SERVER_URL": host.url,
        "ALLOWED_PRODUCT_HOSTS": ["127.0.0.1"],
        "SCOPES": list(scopes),
    }
    host.install(live_server.url + "/atlassian-connect.json")
    from django_atlassian_connect.models import get_tenant_model

    return get_tenant_model()._default_manager.get(client_key=host.client_key)


@pytest.fixture
def jira(settings: Any, live_server: Any) -> Iterator[Any]:
    """A simulated Jira site with the app installed through a live server (``jira.tenant``)."""
    from django_atlassian_connect.testing.host import ConnectHost

    with ConnectHost() as host:
        host.tenant = install_into_live_server(settings, live_server, host)
        yield host


@pytest.fixture
def eager_worker(monkeypatch: Any) -> Iterator[list[Any]]:
    """Celery in eager mode, and the job behaving as it does on a worker (fanning out).

    Yields the signatures dispatched as chunk groups, in order.
    """
    from celery import Celery, current_app

    from django_atlassian_connect import tasks

    previous = current_app._get_current_object()
    app = Celery("eager-worker-tests", set_as_current=True)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    monkeypatch.setattr(tasks, "_runs_inline", lambda: False)
    dispatched: list[Any] = []
    group = tasks.group

    def recording_group(signatures: Any) -> Any:
        signatures = list(signatures)
        dispatched.extend(signatures)
        return group(signatures)

    monkeypatch.setattr(tasks, "group", recording_group)
    yield dispatched
    previous.set_current()
