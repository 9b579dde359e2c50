"""Invoke a Django app's Forge views through ``django.test.Client``, no network.

Each request carries what Forge's ``invokeRemote`` sends: a fresh FIT from
the platform, the B3 ids, the system token and (as a user) the user token::

    def test_me(forge_client):
        response = forge_client.get("/forge/me")
        assert response.json()["accountId"] == forge_client.account_id
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any

from .platform import UI_MODULE_KEY, ForgePlatform, InstallationRef


class ForgeTestClient:
    """A test client bound to one installation and, unless :meth:`as_app`, one user."""

    def __init__(
        self,
        platform: ForgePlatform,
        account_id: str | None,
        installation: InstallationRef = None,
        *,
        module_key: str = UI_MODULE_KEY,
        django_client: Any = None,
    ) -> None:
        from django.test import Client  # late: importable without configured settings

        self.platform = platform
        self.account_id = account_id
        self.installation = platform.installation(installation)
        self.module_key = module_key
        self.django = django_client if django_client is not None else Client()

    def as_app(self) -> ForgeTestClient:
        """The same installation with no user in session: no ``principal``, no user token."""
        return self._copy(None)

    def as_user(self, account_id: str) -> ForgeTestClient:
        return self._copy(account_id)

    def _copy(self, account_id: str | None) -> ForgeTestClient:
        return ForgeTestClient(
            self.platform,
            account_id,
            self.installation,
            module_key=self.module_key,
            django_client=self.django,
        )

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        system_token: bool = True,
        user_token: bool = True,
        fit: str | None = None,
        **extra: Any,
    ) -> Any:
        """One invocation; ``fit`` replaces the minted token (attack tests)."""
        sent = self.platform.invocation_headers(
            self.installation,
            account_id=self.account_id,
            module_key=self.module_key,
            system_token=system_token,
            user_token=user_token,
            fit=fit,
        )
        sent.update(headers or {})
        body = "" if json is None else jsonlib.dumps(json)
        return self.django.generic(
            method, path, body, content_type="application/json", headers=sent, **extra
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
