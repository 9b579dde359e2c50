"""Calling the product's REST API as the app or as a user.

::

    client = ConnectClient(tenant)
    client.as_app().get("/rest/api/3/myself").json()
    client.as_user(account_id, scopes=["READ"]).get("/rest/api/3/myself")

Each returns a :class:`ConnectSession` (a ``requests.Session``). Relative URLs
resolve against the tenant's ``baseUrl``; each request is signed when it is
prepared (a fresh app JWT with its own qsh, or the user's bearer token); a
URL outside the tenant's ``baseUrl`` (or with a dot segment, or ``%2F``/``%2E``
in a path segment) is refused before anything is sent, and a redirect
elsewhere loses the credentials. Error statuses raise
:class:`~django_atlassian_connect.exceptions.ConnectAPIError` with a hint.
Every answer's rate-limit headers are kept for the tenant in the shared cache
(``client.rate_limit``); after a 429 every session of every process waits
before calling the site again (:mod:`~django_atlassian_connect.ratelimit`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests

from . import oauth, ratelimit, tenant_cache
from .conf import connect_settings
from .exceptions import ConnectClientError
from .http import (
    ConnectAPIError,
    RateLimitedSession,
    origin,
    product_message,
    refuse_unsafe_path,
    unsafe_path,
)
from .models import AbstractTenant
from .qsh import canonical_request, hash_canonical_request
from .signing import SigningSecret, current_secret
from .tokens import encode_app_token

__all__ = [
    "ConnectClient",
    "ConnectSession",
    # Re-exported from where they live now (signing, http); importable here as before.
    "SigningSecret",
    "current_secret",
    "product_message",
]

logger = logging.getLogger("django_atlassian_connect")

SCOPE_FOR_METHOD = {
    "GET": "READ",
    "HEAD": "READ",
    "OPTIONS": "READ",
    "POST": "WRITE",
    "PUT": "WRITE",
    "PATCH": "WRITE",
    "DELETE": "DELETE",
}


class ConnectSession(RateLimitedSession):
    """A ``requests.Session`` bound to one tenant's site.

    Use the tenant-relative path (``/rest/api/3/myself``; on Confluence also
    without ``/wiki``) or a full URL under the tenant's ``baseUrl``. Calls
    count against the tenant's rate limits (:class:`RateLimitedSession`);
    ``sleep`` and ``clock`` replace ``time.sleep``/``time.time`` in tests.
    """

    mode = "app"

    def __init__(
        self,
        tenant: AbstractTenant,
        *,
        raise_for_status: bool = True,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(sleep=sleep, clock=clock)
        if not tenant.is_installed:
            raise ConnectClientError(
                "tenant_not_installed",
                f"The app is not installed on {tenant.base_url} ({tenant.client_key}).",
                tenant=tenant,
            )
        self.tenant = tenant
        self.rate_limit_key = tenant.client_key
        self.base_url = tenant.base_url.rstrip("/")
        self.base_origin = origin(self.base_url)
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.raise_for_status = raise_for_status
        self.hooks["response"].append(self._check_response)

    # -- URLs ----------------------------------------------------------------

    def resolve(self, url: str) -> str:
        """A tenant-relative path becomes a full URL under ``baseUrl``."""
        if urlsplit(url).scheme:
            return url
        path = url if url.startswith("/") else "/" + url
        # "/wiki/rest/..." given for a ".../wiki" baseUrl: do not double it.
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            path = path[len(self.base_path) :]
        return self.base_url + path

    def is_tenant_url(self, url: str) -> bool:
        if origin(url) != self.base_origin:
            return False
        path = urlsplit(url).path
        if unsafe_path(path):  # "/wiki/%2e%2e/x" passes the prefix check, then leaves /wiki
            return False
        return not self.base_path or path == self.base_path or path.startswith(self.base_path + "/")

    def _require_tenant_url(self, url: str, method: str | None = None) -> None:
        if not self.is_tenant_url(url):
            raise ConnectClientError(
                "url_not_allowed",
                f"Refusing to send {self.tenant.client_key}'s credentials to {url}: it is "
                f"not under the tenant's baseUrl {self.base_url}.",
                method=method,
                url=url,
                tenant=self.tenant,
            )

    # -- requests hooks --------------------------------------------------------

    def rate_limit_context(self) -> dict[str, Any]:
        return {"tenant": self.tenant}

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        if isinstance(url, bytes):
            url = url.decode("utf-8")
        # As given: preparing the request decodes %2E and drops literal dot segments.
        refuse_unsafe_path(
            url, method, f"{self.tenant.client_key}'s credentials", tenant=self.tenant
        )
        return super().request(method, self.resolve(url), *args, **kwargs)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        self._require_tenant_url(prepared.url or "", prepared.method)
        self.sign(prepared)
        return prepared

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """On a redirect: sign again for a tenant URL, otherwise send no credentials."""
        prepared_request.headers.pop("Authorization", None)
        if self.is_tenant_url(prepared_request.url or ""):
            self.sign(prepared_request)
        else:
            logger.info("redirect to %s: sent without credentials", prepared_request.url)

    def sign(self, prepared: requests.PreparedRequest) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- errors ----------------------------------------------------------------

    def _check_response(
        self, response: requests.Response, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if response.status_code < 400 or response.is_redirect:
            return response
        self.on_error(response)
        if not self.raise_for_status:
            return response
        request = response.request
        message = f"{request.method} {request.url} -> {response.status_code} {response.reason}"
        raise ConnectAPIError(
            message + ".",
            response=response,
            tenant=self.tenant,
            hint=self.hint_for(response) or None,  # None: the code's default hint
        )

    def on_error(self, response: requests.Response) -> None:
        """Called for every error response (before raising)."""

    def hint_for(self, response: requests.Response) -> str:
        status = response.status_code
        method = (response.request.method or "GET").upper()
        product_says = _product_message(response)
        if status == 403:
            return self._forbidden_hint(method) + product_says
        if status == 404:
            return (
                "Not found: check the path is relative to the tenant's baseUrl "
                f"({self.base_url}) and that the resource exists and is visible to the caller."
                + product_says
            )
        if status == 429:
            return ratelimit.rate_limited_hint(response.headers, now=self.clock())
        return product_says.strip()

    def _forbidden_hint(self, method: str) -> str:
        scopes = list(connect_settings.SCOPES)
        needed = SCOPE_FOR_METHOD.get(method)
        missing = (
            f" SCOPES lacks {needed}, which {method} needs."
            if needed and needed not in scopes
            else ""
        )
        return (
            "Forbidden: a scope is missing from the descriptor (SCOPES is "
            f"{', '.join(scopes) or 'empty'}; admin resources need ADMIN), or the "
            f"{'app' if self.mode == 'app' else 'user'} lacks the product permission."
            f"{missing} After changing SCOPES, the app must be upgraded on the site."
        )


def _product_message(response: requests.Response) -> str:
    text = product_message(response)
    return f" The product says: {text}" if text else ""


class AppSession(ConnectSession):
    """Signs every request with a fresh app JWT (``iss`` = app key, qsh of the request)."""

    mode = "app"

    def sign(self, prepared: requests.PreparedRequest) -> None:
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

    def on_error(self, response: requests.Response) -> None:
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
            "(3) a proxy changed the path or query after signing." + _product_message(response)
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
        self.scopes = oauth.normalise_scopes(scopes)

    def sign(self, prepared: requests.PreparedRequest) -> None:
        token = oauth.get_access_token(self.tenant, self.account_id, self.scopes)
        prepared.headers["Authorization"] = f"Bearer {token}"

    def on_error(self, response: requests.Response) -> None:
        if response.status_code == 401:
            oauth.forget_access_token(self.tenant, self.account_id, self.scopes)

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code != 401:
            return super().hint_for(response)
        return (
            f"The product refused the access token of {self.account_id}; it was dropped from "
            "the cache and the next call gets a new one. If this repeats, the user may have "
            "lost access to the site." + _product_message(response)
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
