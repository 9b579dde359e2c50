"""The session :class:`~django_atlassian_connect.forge.client.ForgeClient` hands out.

A :class:`ForgeSession` is a :class:`~django_atlassian_connect.http.bound.BoundSession`
(the one piece of code that binds a credential to one base URL: URLs,
redirects, error answers, rate limits) bound to one installation's
``apiBaseUrl`` and one token source. What it adds: ``apiBaseUrl`` checked
against ``FORGE_API_HOSTS`` before each request, the token renewed when it
runs out, and Forge's hints for 401/403. Which token to use is the client's
business (``token_source``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http.bound import BoundSession
from ..http.errors import product_says
from . import ids, offline

__all__ = ["OFFLINE", "ForgeSession", "TokenSource", "check_api_base_url"]

#: ``token_source(method, url) -> (token, expires_at, source)``; raises a
#: ``ConnectClientError`` (nothing sent) when no token can be had.
TokenSource = Callable[[str | None, str | None], tuple[str, float, str]]

#: The ``source`` of a token from the offlineUserAuthToken mutation.
OFFLINE = "offline user token"
#: Within this time of an installation's first sighting, 401/403 are likely the bot
#: user's permissions not granted yet (spec 4.3: "granted eventually", ~10 min).
FRESH_INSTALL_WINDOW = 15 * 60


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def check_api_base_url(
    installation: Any, api_base_url: str, *, method: str | None = None, url: str | None = None
) -> None:
    """``apiBaseUrl`` on ``FORGE_API_HOSTS`` (https; http on a listed loopback host),
    else ``url_not_allowed``: a token never goes to a site URL or an unknown host."""
    hosts = list(connect_settings.FORGE_API_HOSTS)
    if not ids.api_host_allowed(api_base_url, hosts):
        raise ConnectClientError(
            "url_not_allowed",
            f"Installation {installation.installation_id}'s apiBaseUrl {api_base_url!r} is not "
            f"an https URL on FORGE_API_HOSTS ({', '.join(hosts)}); nothing was sent.",
            hint="Forge tokens go to the API gateway only (api.atlassian.com), never to the "
            "site URL; list another host in FORGE_API_HOSTS only if it is Atlassian's gateway.",
            installation=installation,
            method=method,
            url=url or api_base_url,
        )


class ForgeSession(BoundSession):
    """A ``requests.Session`` bound to one installation's ``apiBaseUrl`` and one token.

    Use a path relative to ``apiBaseUrl`` (``/rest/api/3/myself``; Confluence
    ``/wiki/rest/api/...``) or a full URL under it. ``mode`` is ``"app"`` or
    ``"user"``; ``account_id`` is the user (``None`` as the app). The token is
    renewed from ``token_source`` when it has ``FORGE_TOKEN_MARGIN`` s left.
    URLs, redirects and error answers: :class:`~django_atlassian_connect.http.bound.BoundSession`.
    """

    url_hint = (
        "Use a path relative to the installation's apiBaseUrl, e.g. "
        "'/rest/api/3/myself' (Jira) or '/wiki/rest/api/user/current' (Confluence)."
    )
    base_name = "the apiBaseUrl"
    wiki_paths = (
        "; Confluence paths start with /wiki there (unlike Connect), e.g. '/wiki/rest/api/content'"
    )

    def __init__(
        self,
        installation: Any,
        api_base_url: str,
        token_source: TokenSource,
        *,
        account_id: str | None = None,
        raise_for_status: bool = True,
    ) -> None:
        self.installation = installation
        self.installation_id = str(installation.installation_id)
        self._rate_limit_key: str | None = None
        super().__init__(
            api_base_url,
            lambda: f"Bearer {self._token}",
            who=f"installation {self.installation_id}'s token",
            context={"installation": installation},
            raise_for_status=raise_for_status,
        )
        self.api_base_url = self.base_url
        self.account_id = account_id
        self.mode = "user" if account_id else "app"
        self.caller = "the app's bot user" if self.mode == "app" else f"the user {account_id}"
        self._token_source = token_source
        self._token = ""
        self._expires_at = 0.0
        self.token_kind = ""  # where the token came from, for hints (never the token)
        check_api_base_url(installation, self.api_base_url)
        self._renew(None, None)  # no token: raise now, before any request

    @property
    def rate_limit_key(self) -> str | None:  # type: ignore[override]
        """The quota the calls count against: the same app on the same site, so a linked
        Connect tenant's (Connect-on-Forge shares it), else the installation's own.
        Looked up on the first call, not when the session is made."""
        if self._rate_limit_key is None:
            installation = self.installation
            tenant = installation.tenant if getattr(installation, "tenant_id", None) else None
            self._rate_limit_key = (
                tenant.client_key if tenant is not None else f"forge:{self.installation_id}"
            )
        return self._rate_limit_key

    @rate_limit_key.setter
    def rate_limit_key(self, value: str | None) -> None:
        self._rate_limit_key = value

    def __repr__(self) -> str:
        who = f" as {self.account_id}" if self.account_id else " as app"
        return f"<ForgeSession {self.installation_id}{who} {self.api_base_url}>"

    def is_api_url(self, url: str) -> bool:
        """Under ``apiBaseUrl`` (:meth:`BoundSession.is_allowed_url`)."""
        return self.is_allowed_url(url)

    # -- BoundSession hooks ---------------------------------------------------------

    def check_base_url(self, method: str | None, url: str | None) -> None:
        check_api_base_url(self.installation, self.api_base_url, method=method, url=url)

    def authorize(self, prepared: requests.PreparedRequest) -> None:
        if self._expires_at - time.time() <= float(connect_settings.FORGE_TOKEN_MARGIN):
            self._renew(prepared.method, prepared.url)
        super().authorize(prepared)

    def _renew(self, method: str | None, url: str | None) -> None:
        self._token, self._expires_at, self.token_kind = self._token_source(method, url)

    def on_error_response(self, response: requests.Response) -> None:
        if response.status_code == 401 and self.token_kind == OFFLINE and self.account_id:
            # Refused: drop it from the caches; the next request asks for a new one.
            offline.forget_offline_token(self.installation_id, self.account_id)
            self._expires_at = 0.0

    def hint_for(self, response: requests.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            return self._auth_hint(status, self.caller) + product_says(response)
        return super().hint_for(response)

    def _auth_hint(self, status: int, who: str) -> str:
        eventually = (
            "Right after an install the bot user's permissions are granted eventually, so "
            "the first calls may get 401 or 403: retry with backoff (5^n s, up to about 10 min)."
        )
        first_seen = timestamp(getattr(self.installation, "first_seen_at", None))
        age = time.time() - first_seen if first_seen is not None else None
        lead = ""
        if self.mode == "app" and age is not None and age < FRESH_INSTALL_WINDOW:
            lead = f"This installation was first seen {int(age)} s ago. {eventually} "
        if status == 401:
            text = (
                f"The gateway refused the {self.token_kind or 'token'} (valid by its exp until "
                f"{iso(self._expires_at)}): it was revoked, or the app was uninstalled (there "
                "is no uninstall event: 4xx on every call and no hourly trigger are the signs)."
            )
        else:
            text = (
                f"Forbidden for {who}: the manifest's permissions.scopes lack the product scope "
                "this call needs (e.g. read:jira-work, read:confluence-content.all; adding "
                f"scopes is a major version the admin must approve), or {who} lacks the "
                "product permission."
            )
        if self.mode == "app" and not lead:
            text += " " + eventually
        return lead + text
