"""Tokens the product gives the app: iframe page URLs, webhooks and callbacks, ``AP.context``.

All are HS256 with the current shared secret, ``iss`` the site's clientKey.
(The RS256 signed-install token lives with the lifecycle callbacks.)
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import jwt

from ...qsh import CONTEXT_QSH, query_string_hash
from .state import HostError, SiteState


class TokenMinter(SiteState):
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
        self,
        account_id: str | None = None,
        *,
        secret: str | None = None,
        lifetime: int | None = None,
        now: float | None = None,
    ) -> str:
        """What ``AP.context.getToken()`` gives the app's front end.

        It lives ``lifetime`` seconds, by default the site's ``context_token_lifetime``.
        """
        issued = int(time.time() if now is None else now)
        life = self.context_token_lifetime if lifetime is None else lifetime
        claims: dict[str, Any] = {
            "iss": self.client_key,
            "iat": issued,
            "exp": issued + life,
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
