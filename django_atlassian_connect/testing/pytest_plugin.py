"""pytest fixtures for testing your own Connect app (needs pytest-django:
``pip install "django-atlassian-connect[test]"`` installs both).

Installed with the package and inert until a test asks for a fixture (without
pytest-django it only adds stand-ins for its ``settings`` and ``db`` fixtures that
say what to install):

- ``connect_host``: a started :class:`ConnectHost` (simulated Jira site) with
  ``INSTALL_KEYS_URL``, ``AUTHORIZATION_SERVER_URL`` and
  ``ALLOWED_PRODUCT_HOSTS`` pointed at it, and the ``AP_JS_URL`` setting at
  its AP bridge. Lifecycle callbacks reach your app through Django's test
  client, so no live server is needed.
- ``connect_tenant``: your app installed into ``connect_host`` with a real
  signed install; the tenant model instance.
- ``connect_client``: a Django test client that adds Connect tokens::

      def test_me(connect_client):
          response = connect_client.context_get("/api/me")
          assert response.json()["accountId"] == connect_client.account_id

Forge Remote (``django_atlassian_connect.testing.forge``):

- ``forge_host``: a started :class:`ForgePlatform` with one Jira installation
  and one user, ``FORGE_APP_ID``, ``FORGE_JWKS_URL`` and ``FORGE_API_HOSTS``
  pointed at it; its events and invocations reach your app through Django's
  test client.
- ``forge_client``: invokes your views as Forge's ``invokeRemote`` does (FIT,
  system and user tokens), as the user; ``forge_client.as_app()`` without one::

      def test_me(forge_client):
          response = forge_client.get("/forge/me")
          assert response.json()["accountId"] == forge_client.account_id

Connect-on-Forge (``django_atlassian_connect.testing.connect_on_forge``):

- ``connect_on_forge``: one site installed both ways, ``connect_host`` and
  ``forge_host`` made one site (one cloudId, one site URL, the same users);
  its signed Connect ``installed`` carries the Forge ``installationId``, so
  the installation is linked to the tenant when the fixture returns (and,
  when your URLconf routes ``atlassian_connect_forge:lifecycle``, Forge's
  ``avi:forge:installed:app`` was delivered too)::

      def test_same_tenant(connect_on_forge):
          response = connect_on_forge.forge_client.get("/forge/me")
          assert response.json()["clientKey"] == connect_on_forge.tenant.client_key

OAuth 2.0 (3LO) (``django_atlassian_connect.testing.oauth``):

- ``oauth_server``: a started :class:`OAuthServer` (authorization server and
  API gateway) with one account and one Jira site, ``OAUTH_CLIENT_ID``,
  ``OAUTH_CLIENT_SECRET``, ``OAUTH_AUTH_URL`` and ``API_URL`` pointed at it.
- ``linked_user``: a Django user who linked that account (a real consent,
  code exchange and accessible-resources over HTTP); ``linked_user.oauth_grant``
  is the grant and ``linked_user.cloud_id`` the site::

      def test_myself(linked_user):
          client = OAuthClient(linked_user.oauth_grant, linked_user.cloud_id)
          assert client.session().get("/rest/api/3/myself").ok
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

#: what a fixture says when pytest-django, which provides ``settings`` and ``db``, is missing
MISSING_PYTEST_DJANGO = (
    "the django_atlassian_connect fixtures need pytest-django (its 'settings' and 'db' "
    "fixtures), which is not installed or not active. Install it with: pip install "
    'pytest-django  (or: pip install "django-atlassian-connect[test]"), and tell it your '
    "settings: DJANGO_SETTINGS_MODULE in pytest.ini / pyproject.toml, or --ds=yourproject.settings."
)


class _WithoutPytestDjango:
    """Stand-ins for pytest-django's ``settings`` and ``db``, registered only when it is not
    active, so that a test using our fixtures reads what to install rather than
    "fixture 'settings' not found"."""

    @pytest.fixture
    def settings(self) -> Any:
        pytest.fail(MISSING_PYTEST_DJANGO, pytrace=False)

    @pytest.fixture
    def db(self) -> Any:
        pytest.fail(MISSING_PYTEST_DJANGO, pytrace=False)


def _has_pytest_django(manager: pytest.PytestPluginManager) -> bool:
    # By its entry point name ("django"), or loaded by module (-p pytest_django.plugin).
    return manager.hasplugin("django") or any(
        getattr(plugin, "__name__", "").startswith("pytest_django")
        for plugin in manager.get_plugins()
    )


def pytest_configure(config: pytest.Config) -> None:
    if not _has_pytest_django(config.pluginmanager):
        config.pluginmanager.register(
            _WithoutPytestDjango(), "django_atlassian_connect.without_pytest_django"
        )


def _django_transport(client: Any, app_base_url: str) -> Any:
    """Deliver the host's requests to the app through ``django.test.Client``."""
    import json

    base_path = urlsplit(app_base_url).path.rstrip("/")

    def transport(method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
        parts = urlsplit(url)
        path = (
            parts.path[len(base_path) :]
            if base_path and parts.path.startswith(base_path)
            else parts.path
        )
        if parts.query:
            path += "?" + parts.query
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        if method == "GET":
            return client.get(path, **extra)
        return client.generic(
            method, path, json.dumps(body or {}), content_type="application/json", **extra
        )

    return transport


class ConnectTestClient:
    """A ``django.test.Client`` wrapper that signs requests like the product.

    ``page_get`` / ``page_post`` send a request token (qsh of that request),
    as iframes and webhooks do; ``context_get`` / ``context_post`` send a
    context token, as ``AP.context.getToken()`` does.
    """

    def __init__(self, host: Any, account_id: str | None) -> None:
        from django.test import Client

        self.host = host
        self.account_id = account_id
        self.django = Client()

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"JWT {token}"}

    def page_get(self, path: str, **extra: Any) -> Any:
        token = self.host.request_token("GET", path, account_id=self.account_id)
        return self.django.get(path, headers=self._auth(token), **extra)

    def page_post(
        self, path: str, data: Any = None, content_type: str = "application/json", **extra: Any
    ) -> Any:
        token = self.host.request_token("POST", path, account_id=self.account_id)
        return self.django.post(
            path, data or {}, content_type=content_type, headers=self._auth(token), **extra
        )

    def context_get(self, path: str, **extra: Any) -> Any:
        return self.django.get(
            path, headers=self._auth(self.host.context_token(self.account_id)), **extra
        )

    def context_post(
        self, path: str, data: Any = None, content_type: str = "application/json", **extra: Any
    ) -> Any:
        token = self.host.context_token(self.account_id)
        return self.django.post(
            path, data or {}, content_type=content_type, headers=self._auth(token), **extra
        )


@pytest.fixture
def connect_host(settings: Any) -> Iterator[Any]:
    """A simulated Jira site on 127.0.0.1, wired into ATLASSIAN_CONNECT and AP_JS_URL."""
    from django.test import Client

    from django_atlassian_connect.conf import DEFAULTS, connect_settings
    from django_atlassian_connect.connect import install_keys
    from django_atlassian_connect.testing.host import ConnectHost

    with ConnectHost() as host:
        conf = dict(getattr(settings, "ATLASSIAN_CONNECT", {}) or {})
        hosts = list(conf.get("ALLOWED_PRODUCT_HOSTS", DEFAULTS["ALLOWED_PRODUCT_HOSTS"]))
        conf.update(
            INSTALL_KEYS_URL=host.keys_url,
            AUTHORIZATION_SERVER_URL=host.url,
            ALLOWED_PRODUCT_HOSTS=[*hosts, "127.0.0.1"],
        )
        settings.ATLASSIAN_CONNECT = conf
        settings.AP_JS_URL = host.all_js_url  # pages load the site's AP bridge
        host.transport = _django_transport(Client(), connect_settings.BASE_URL)
        yield host
        install_keys.clear_memory_cache()


def _install(connect_host: Any) -> Any:
    """The app installed into ``connect_host`` (signed install); the tenant."""
    from django.urls import reverse

    from django_atlassian_connect.conf import connect_settings
    from django_atlassian_connect.models import get_tenant_model

    # The path from reverse() includes any script prefix; BASE_URL's path is stripped by the transport.
    descriptor_path = reverse("atlassian_connect:descriptor")
    connect_host.install(connect_settings.BASE_URL + descriptor_path)
    return get_tenant_model()._default_manager.get(client_key=connect_host.client_key)


@pytest.fixture
def connect_tenant(connect_host: Any, db: None) -> Any:
    """The app installed into ``connect_host`` (signed install); the tenant."""
    return _install(connect_host)


@pytest.fixture
def connect_client(connect_host: Any, connect_tenant: Any) -> ConnectTestClient:
    """A test client whose requests carry tokens of the first simulated user."""
    return ConnectTestClient(connect_host, next(iter(connect_host.accounts)))


@functools.cache
def _forge_signing_key() -> Any:
    """One signing key for every ``forge_host`` of the session.

    A verifier caches the JWKS per URL; a later test's platform may get the
    same port, and a key it signs with must then be in that cached set.
    (It also spares an RSA key generation per test.)
    """
    from django_atlassian_connect.testing.forge import ForgeSigningKey

    return ForgeSigningKey()


@pytest.fixture
def forge_host(settings: Any) -> Iterator[Any]:
    """A started simulated Forge platform wired into ATLASSIAN_CONNECT.

    One Jira installation (``forge_host.installation()``) and one user
    (``forge_host.accounts``). ``invoke``, ``deliver_lifecycle`` and
    ``trigger_scheduled`` reach the app through Django's test client; set
    ``forge_host.transport = None`` and ``remote_base_url`` to use real HTTP.
    """
    from django.test import Client

    from django_atlassian_connect.testing.forge import ForgePlatform, KeyRing

    conf = dict(getattr(settings, "ATLASSIAN_CONNECT", {}) or {})
    platform = ForgePlatform(
        remote_base_url=conf.get("BASE_URL") or "http://testserver",
        connect_key=conf.get("APP_KEY"),
        keys=KeyRing(_forge_signing_key()),
    )
    with platform:
        platform.add_account("Alana Grant", "alana@example.com")
        platform.add_installation("jira")
        conf.update(
            FORGE_APP_ID=platform.app_id,
            FORGE_JWKS_URL=platform.jwks_url,
            FORGE_API_HOSTS=platform.api_hosts,
        )
        settings.ATLASSIAN_CONNECT = conf
        platform.transport = _django_transport(Client(), platform.remote_base_url)
        yield platform


@pytest.fixture
def forge_client(forge_host: Any, db: None) -> Any:
    """Invokes the app like Forge's ``invokeRemote``, as ``forge_host``'s user."""
    from django_atlassian_connect.testing.forge import ForgeTestClient

    return ForgeTestClient(forge_host, next(iter(forge_host.accounts)))


@pytest.fixture
def oauth_server(settings: Any) -> Iterator[Any]:
    """A simulated Atlassian authorization server and API gateway wired into ATLASSIAN_CONNECT."""
    from django_atlassian_connect.testing.oauth import OAuthServer

    with OAuthServer() as server:
        server.add_account("Alana Grant", "alana@example.com")
        server.add_site("Acme", "https://acme.atlassian.net")
        conf = dict(getattr(settings, "ATLASSIAN_CONNECT", {}) or {})
        conf.update(server.settings())
        settings.ATLASSIAN_CONNECT = conf
        yield server


@pytest.fixture
def linked_user(oauth_server: Any, db: None) -> Any:
    """A Django user with an active grant for ``oauth_server``'s account and site."""
    from django.contrib.auth import get_user_model

    from django_atlassian_connect.threelo import linking, tokens

    user: Any = get_user_model()._default_manager.create_user(
        username="alana", password="alana-pw-1"
    )
    redirect_uri = tokens.callback_url()
    location = oauth_server.consent_redirect(
        tokens.authorize_url("fixture", redirect_uri=redirect_uri)
    )
    code = oauth_server.query_of(location)["code"]
    user.oauth_grant = linking.link_account(user, code, redirect_uri=redirect_uri)
    user.cloud_id = next(iter(oauth_server.state.sites))
    return user


@pytest.fixture
def connect_on_forge(connect_host: Any, forge_host: Any, db: None) -> Any:
    """One site installed both ways (Connect-on-Forge), linked when it returns.

    A :class:`~django_atlassian_connect.testing.connect_on_forge.ConnectOnForge`:
    ``host``, ``platform``, ``installation`` (``installation_id``), ``tenant``,
    ``connect_client`` and ``forge_client`` (the same user, ``account_id``).
    """
    from django.urls import NoReverseMatch, reverse

    from django_atlassian_connect.testing.connect_on_forge import ConnectOnForge, share_site
    from django_atlassian_connect.testing.forge import ForgeTestClient

    installation = share_site(connect_host, forge_host)
    tenant = _install(connect_host)  # its signed install names the installation: linked
    try:
        lifecycle = reverse("atlassian_connect_forge:lifecycle")
    except NoReverseMatch:  # the project routes no Forge lifecycle: the first FIT records it
        lifecycle = None
    if lifecycle is not None:
        # Forge's side of the install: the installation's apiBaseUrl and system token.
        (attempt,) = forge_host.deliver_lifecycle(
            "avi:forge:installed:app", installation, path=lifecycle, retries=0
        )
        if not attempt.ok:
            body = getattr(attempt.response, "content", b"")[:500]
            raise AssertionError(
                f"connect_on_forge: POST {lifecycle} (avi:forge:installed:app) answered "
                f"{attempt.status}: {body!r}"
            )
    account_id = next(iter(connect_host.accounts))
    tenant.refresh_from_db()
    return ConnectOnForge(
        host=connect_host,
        platform=forge_host,
        installation=installation,
        tenant=tenant,
        connect_client=ConnectTestClient(connect_host, account_id),
        forge_client=ForgeTestClient(forge_host, account_id, installation),
    )
