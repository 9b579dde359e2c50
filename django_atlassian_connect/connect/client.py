"""Calling the product's REST API as the app or as a user.

::

    client = ConnectClient(tenant)
    client.as_app().get("/rest/api/3/myself").json()
    client.as_user(account_id, scopes=["READ"]).get("/rest/api/3/myself")

Each returns a :class:`ConnectSession` (a ``requests.Session``). Relative URLs
resolve against the tenant's ``baseUrl``; each request is signed when it is
prepared (a fresh app JWT with its own qsh, or the user's bearer token); a
URL outside the tenant's ``baseUrl`` (or with a dot segment, ``%2F``/``%2E``
in a path segment, or user info) is refused before anything is sent, and a
redirect elsewhere loses the credentials: the rules of
:class:`~django_atlassian_connect.http.bound.BoundSession`, as for every credential. Error statuses raise
:class:`~django_atlassian_connect.exceptions.ConnectAPIError` with a hint.
Every answer's rate-limit headers are kept for the tenant in the shared cache
(``client.rate_limit``); after a 429 every session of every process waits
before calling the site again (:mod:`~django_atlassian_connect.http.ratelimit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..http import product_message, product_says, ratelimit
from ..http.bound import BoundSession
from ..models import AbstractTenant
from ..qsh import canonical_request, hash_canonical_request
from ..tokens import encode_app_token
from . import impersonation, tenant_cache
from .descriptor import SCOPE_FOR_METHOD, needed_scope
from .signing import SigningSecret, current_secret

__all__ = [
    # Re-exported from where they live now (descriptor, signing, http); importable here as before.
    "SCOPE_FOR_METHOD",
    "ConnectClient",
    "ConnectSession",
    "SigningSecret",
    "current_secret",
    "product_message",
]


class ConnectSession(BoundSession):
    """A ``requests.Session`` bound to one tenant's site.

    Use the tenant-relative path (``/rest/api/3/myself``; on Confluence also
    without ``/wiki``) or a full URL under the tenant's ``baseUrl``. It is a
    :class:`~django_atlassian_connect.http.bound.BoundSession` (URLs, redirects,
    errors, rate limits: the same rules as for every credential); what is
    Connect's own: the tenant (``exc.tenant`` on every error, its ``clientKey``
    as the rate-limit key), the signature of each request (:meth:`authorize`)
    and the hints for 401 and 403. ``sleep`` and ``clock`` replace
    ``time.sleep``/``time.time`` in tests.
    """

    mode = "app"
    url_hint = (
        "Use a path relative to the tenant's baseUrl, e.g. '/rest/api/3/myself' "
        "(on Confluence with or without '/wiki')."
    )
    base_name = "the tenant's baseUrl"
    # A Connect Confluence baseUrl ends in /wiki already (unlike the gateway's).
    wiki_paths = "; a Confluence baseUrl ends in /wiki, which the path may repeat or leave out"

    def __init__(
        self,
        tenant: AbstractTenant,
        *,
        raise_for_status: bool = True,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not tenant.is_installed:
            raise ConnectClientError(
                "tenant_not_installed",
                f"The app is not installed on {tenant.base_url} ({tenant.client_key}).",
                tenant=tenant,
            )
        super().__init__(
            tenant.base_url,
            None,  # authorize() signs each request itself
            who=f"{tenant.client_key}'s credentials",
            context={"tenant": tenant},
            raise_for_status=raise_for_status,
            rate_limit_key=tenant.client_key,
            sleep=sleep,
            clock=clock,
        )
        self.tenant = tenant
        self.caller = "the app" if self.mode == "app" else "the user"

    # Older names of the bound session's hooks, kept for callers.
    def is_tenant_url(self, url: str) -> bool:
        """Under the tenant's ``baseUrl``: :meth:`~BoundSession.is_allowed_url`."""
        return self.is_allowed_url(url)

    def sign(self, prepared: requests.PreparedRequest) -> None:
        """Sign ``prepared``: :meth:`authorize`."""
        self.authorize(prepared)

    def on_error(self, response: requests.Response) -> None:
        """Called for every error response: :meth:`~BoundSession.on_error_response`."""
        self.on_error_response(response)

    # -- errors ----------------------------------------------------------------

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code == 403:
            method = (response.request.method or "GET").upper()
            path = urlsplit(response.request.url or response.url or "").path
            return self._forbidden_hint(method, path) + product_says(response)
        return super().hint_for(response)

    def _forbidden_hint(self, method: str, path: str = "") -> str:
        scopes = list(connect_settings.SCOPES)
        need = needed_scope(method, path, scopes)
        missing = "" if need.declared else f" SCOPES lacks {need.scope}, which {method} needs."
        return (
            "Forbidden: a scope is missing from the descriptor (SCOPES is "
            f"{', '.join(scopes) or 'empty'}; admin resources need ADMIN), or the "
            f"{'app' if self.mode == 'app' else 'user'} lacks the product permission."
            f"{missing} After changing SCOPES, the app must be upgraded on the site."
        )


class AppSession(ConnectSession):
    """Signs every request with a fresh app JWT (``iss`` = app key, qsh of the request)."""

    mode = "app"

    def authorize(self, prepared: requests.PreparedRequest) -> None:
        secret = current_secret(self.tenant)
        canonical = canonical_request(prepared.method or "GET", prepared.url or "", self.base_url)
        token = encode_app_token(
            app_key=connect_settings.APP_KEY,
            secret=secret.value,
            qsh=hash_canonical_request(canonical),
            lifetime=connect_settings.APP_TOKEN_LIFETIME,
        )
        prepared.headers["Authorization"] = f"JWT {token}"
        # Kept for the error hint; fingerprints and canonical requests are not secret.
        prepared.connect_signing = {  # type: ignore[attr-defined]
            "fingerprint": secret.fingerprint,
            "current_since": secret.current_since,
            "canonical": canonical,
            "iat": int(time.time()),
        }

    def on_error_response(self, response: requests.Response) -> None:
        if response.status_code == 401:
            # Our cached secret may be stale (a rotation seen by another process only).
            tenant_cache.forget(self.tenant.client_key)

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code != 401:
            return super().hint_for(response)
        signing = getattr(response.request, "connect_signing", {})
        since = signing.get("current_since")
        return (
            "The product refused the app's JWT. We signed with iss "
            f"{connect_settings.APP_KEY!r} and the shared secret {signing.get('fingerprint', '?')}"
            + (
                f" (current since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(since))})"
                if since
                else ""
            )
            + f", qsh over {signing.get('canonical', '?')!r}. Likely causes: (1) the secret is "
            "stale because a newer 'installed' callback was missed or refused: check the "
            "tenant's lifecycle events, or reinstall the app; (2) clock skew: our clock "
            f"said {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(signing.get('iat', time.time())))}; "
            "(3) a proxy changed the path or query after signing." + product_says(response)
        )


class UserSession(ConnectSession):
    """Sends the user's bearer token from the impersonation grant."""

    mode = "user"

    def __init__(
        self,
        tenant: AbstractTenant,
        account_id: str,
        scopes: Iterable[str] | str | None = None,
        *,
        raise_for_status: bool = True,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(tenant, raise_for_status=raise_for_status, sleep=sleep, clock=clock)
        self.account_id = account_id
        self.scopes = impersonation.normalise_scopes(scopes)
        self.caller = f"the user {account_id}"

    def authorize(self, prepared: requests.PreparedRequest) -> None:
        token = impersonation.get_access_token(self.tenant, self.account_id, self.scopes)
        prepared.headers["Authorization"] = f"Bearer {token}"

    def on_error_response(self, response: requests.Response) -> None:
        if response.status_code == 401:
            impersonation.forget_access_token(self.tenant, self.account_id, self.scopes)

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code != 401:
            return super().hint_for(response)
        return (
            f"The product refused the access token of {self.account_id}; it was dropped from "
            "the cache and the next call gets a new one. If this repeats, the user may have "
            "lost access to the site." + product_says(response)
        )


class ConnectClient:
    """Entry point for outbound calls to one tenant's site.

    ``sleep`` and ``clock`` (default ``time.sleep``, ``time.time``) are what
    its sessions wait and tell time with before a call during a backoff.
    """

    def __init__(
        self,
        tenant: AbstractTenant,
        *,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.tenant = tenant
        self.sleep = sleep
        self.clock = clock

    def as_app(self, *, raise_for_status: bool = True) -> ConnectSession:
        """A session that signs each request as the app (JWT, ``iss`` = app key)."""
        return AppSession(
            self.tenant, raise_for_status=raise_for_status, sleep=self.sleep, clock=self.clock
        )

    def as_user(
        self,
        account_id: str,
        scopes: Iterable[str] | str | None = None,
        *,
        raise_for_status: bool = True,
    ) -> ConnectSession:
        """A session acting as ``account_id`` (OAuth 2.0 JWT bearer; needs ACT_AS_USER)."""
        return UserSession(
            self.tenant,
            account_id,
            scopes,
            raise_for_status=raise_for_status,
            sleep=self.sleep,
            clock=self.clock,
        )

    @property
    def rate_limit(self) -> ratelimit.RateLimitState | None:
        """The tenant's rate limits as last seen by any process (shared cache), or ``None``.

        ``limit``, ``remaining``, ``reset`` (aware datetime), ``near_limit``,
        ``reason`` (``RateLimit-Reason``), ``retry_after``, ``observed_at``.
        The backoff after a 429, if one runs: ``ratelimit.get_backoff(client_key)``.
        """
        return ratelimit.get_state(self.tenant.client_key)

    def __repr__(self) -> str:
        return f"<ConnectClient {self.tenant.client_key!r} {self.tenant.base_url!r}>"
