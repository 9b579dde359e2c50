"""Driving the app's lifecycle as the product does: fetch the descriptor, then
``installed`` / ``uninstalled`` (signed install, RS256 with the site's install
key) and ``enabled`` / ``disabled`` (HS256 with the shared secret)."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import jwt

from ...qsh import query_string_hash
from .state import HostError, SecretRecord, response_text
from .tokens import TokenMinter


class LifecycleDriver(TokenMinter):
    #: Connect-on-Forge: the Forge installation ARI (``installationId``) and the
    #: site's ``cloudId`` the lifecycle payloads carry; ``None``: not sent.
    #: Set them directly or through :meth:`install`.
    installation_id: str | None = None
    cloud_id: str | None = None

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

    def payload(
        self,
        event: str,
        secret: str | None = None,
        *,
        installation_id: str | None = None,
        cloud_id: str | None = None,
    ) -> dict[str, Any]:
        """The lifecycle body; ``installation_id``/``cloud_id`` default to the attributes."""
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
        installation_id = installation_id or self.installation_id
        if installation_id:
            body["installationId"] = installation_id
        cloud_id = cloud_id or self.cloud_id
        if cloud_id:
            body["cloudId"] = cloud_id
        return body

    def _lifecycle_url(self, event: str) -> tuple[str, str]:
        path = self._descriptor()["lifecycle"].get(event)
        if not path:
            raise HostError(f"the descriptor names no {event} callback")
        return path, self.app_base_url + path

    def install_token(self, path: str, **overrides: Any) -> str:
        """The signed-install token (RS256, ``kid`` of :attr:`key`) for ``POST path``.

        Each token carries a random ``jti``, as ``testing.mint.install_token`` does: the
        app accepts a lifecycle token once, and two deliveries within one second would
        otherwise be the very same token.
        """
        now = int(time.time())
        claims = {
            "iss": self.client_key,
            "aud": [self.app_base_url],
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", path, self.app_base_url),
            "context": {},
            "jti": uuid.uuid4().hex,
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
                f"{event} callback answered {response.status_code}: "
                f"{response_text(response)[:500]}",
                response,
            )
        return response

    def install(
        self,
        descriptor_url: str | None = None,
        *,
        rotate_secret: bool = False,
        expect: int | None = 204,
        installation_id: str | None = None,
        cloud_id: str | None = None,
    ) -> Any:
        """``installed`` (signed install). A first install or ``rotate_secret`` sends a new secret.

        Like the product, the site switches to a new secret only once the app
        answered 2xx. ``installation_id`` (the Forge installation ARI, as a
        Connect-on-Forge site sends it) and ``cloud_id`` are kept for later
        payloads.
        """
        if installation_id is not None:
            self.installation_id = installation_id
        if cloud_id is not None:
            self.cloud_id = cloud_id
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
