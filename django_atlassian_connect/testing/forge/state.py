"""The platform's state: identity, installations, keys, servers, tokens.

:class:`PlatformState` owns the app's identity and installations
(``records.py``), the signing keys and their JWKS server (``keys.py``,
``jwks.py``), and the API gateway with its tokens (``gateway.py``,
``tokens.py``). :class:`~.platform.ForgePlatform` adds the calls to the remote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

from .gateway import ApiGateway
from .jwks import JwksServer
from .keys import ForgeSigningKey, KeyRing
from .records import Directory, Environment, ForgeAccount, Installation
from .tokens import SYSTEM, USER, IssuedToken, TokenIssuer

#: ``transport(method, url, body, headers) -> response`` delivers the platform's
#: requests to the remote (default: real HTTP with ``requests``, no redirects).
Transport = Callable[[str, str, Any, dict[str, str]], Any]

#: an installation by object, ARI or bare uuid; ``None`` is the first one
InstallationRef = Installation | str | None


class PlatformState:
    """The simulator's parts and the accessors a test uses to set it up and look inside."""

    def __init__(
        self,
        *,
        remote_base_url: str = "http://127.0.0.1:8000",
        app_uuid: str | None = None,
        app_name: str = "simulated-forge-app",
        app_version: str = "1.0.0",
        environment_type: str = "PRODUCTION",
        connect_key: str | None = None,
        keys: KeyRing | None = None,
        jwks_max_age: int | None = 3600,
        system_token_ttl: int = 3 * 3600,
        user_token_ttl: int = 3600,
        license: Mapping[str, Any] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.directory = Directory(
            app_uuid=app_uuid,
            app_name=app_name,
            app_version=app_version,
            environment_type=environment_type,
            connect_key=connect_key,
        )
        self.keys = keys or KeyRing()
        self.jwks = JwksServer(self.keys, max_age=jwks_max_age)
        self.tokens = TokenIssuer(
            system_ttl=system_token_ttl, user_ttl=user_token_ttl, offline_ttl=user_token_ttl
        )
        self.gateway = ApiGateway(self.directory, self.tokens)
        self.remote_base_url = remote_base_url
        #: the ``app.license`` claim of every FIT (None: a free app); see ``mint.paid_license``
        self.license = dict(license) if license is not None else None
        self.transport = transport
        #: every request sent to the remote: method, path, kind, header names (no values)
        self.sent: list[dict[str, Any]] = []

    # -- lifecycle of the simulator ---------------------------------------------

    def start(self) -> Self:
        self.jwks.start()
        self.gateway.start()
        return self

    def stop(self) -> None:
        self.gateway.stop()
        self.jwks.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- identity and configuration ---------------------------------------------

    @property
    def app_id(self) -> str:
        return self.directory.app_id

    @property
    def environment(self) -> Environment:
        """``type`` (``PRODUCTION``...), ``id`` (the environment ARI) and bare ``uuid``."""
        return self.directory.environment

    @property
    def connect_key(self) -> str | None:
        return self.directory.connect_key

    @connect_key.setter
    def connect_key(self, value: str | None) -> None:
        self.directory.connect_key = value

    @property
    def jwks_url(self) -> str:
        return self.jwks.jwks_url

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def api_hosts(self) -> list[str]:
        """The hosts an app must allow in ``app.apiBaseUrl`` (``FORGE_API_HOSTS``)."""
        return ["127.0.0.1"]

    @property
    def installations(self) -> dict[str, Installation]:
        return self.directory.installations

    @property
    def accounts(self) -> dict[str, ForgeAccount]:
        return self.directory.accounts

    @property
    def issued(self) -> dict[str, IssuedToken]:
        """Every token the gateway issued, by token."""
        return self.tokens.issued

    def add_installation(
        self,
        product: str = "jira",
        site_url: str | None = None,
        connect_client_key: str | None = None,
        cloud_id: str | None = None,
    ) -> Installation:
        """Install the app on a new site; its ``api_base_url`` points at the gateway."""
        return self.directory.add_installation(
            self.gateway.url, product, site_url, connect_client_key, cloud_id
        )

    def add_account(self, display_name: str = "Alana Grant", email: str = "") -> ForgeAccount:
        return self.directory.add_account(display_name, email)

    def installation(self, ref: InstallationRef = None) -> Installation:
        """By object, ARI or bare uuid; ``None`` is the first installation."""
        return self.directory.installation(ref)

    def rotate_keys(self, *, keep_old: bool = True) -> ForgeSigningKey:
        return self.keys.rotate(keep_old=keep_old)

    # -- tokens -----------------------------------------------------------------

    def system_token(self, installation: InstallationRef = None) -> str:
        """The system token the next invocation carries (reused until near expiry)."""
        return self.tokens.handout(SYSTEM, self.installation(installation).id).token

    def user_token(self, account_id: str, installation: InstallationRef = None) -> str:
        if account_id not in self.accounts:
            raise AssertionError(f"unknown account {account_id!r}: add_account() first")
        return self.tokens.handout(USER, self.installation(installation).id, account_id).token

    def current_system_token(self, installation: InstallationRef = None) -> str | None:
        """The newest system token handed out for the installation, if any."""
        latest = self.tokens.latest(SYSTEM, self.installation(installation).id)
        return latest.token if latest else None

    def expire_system_token(self, installation: InstallationRef = None) -> None:
        """The gateway refuses the current system token; the next invocation brings a new one."""
        latest = self.tokens.latest(SYSTEM, self.installation(installation).id)
        if latest is not None:
            self.tokens.expire(latest)

    def expire_user_token(self, account_id: str, installation: InstallationRef = None) -> None:
        latest = self.tokens.latest(USER, self.installation(installation).id, account_id)
        if latest is not None:
            self.tokens.expire(latest)
