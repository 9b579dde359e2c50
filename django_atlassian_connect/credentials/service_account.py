"""Calling Jira or Confluence Cloud as a service account (OAuth 2.0 client credentials).

::

    client = ServiceAccountClient(client_id, secret, cloud_id)
    client.session().get("/rest/api/3/myself").json()

The token comes from ``POST {OAUTH_AUTH_URL}/oauth/token`` (``grant_type``
``client_credentials``), lives 60 minutes and is shared by every process
until shortly before it expires (:mod:`.client_credentials`: one fetch across
processes, encrypted in the shared cache). Calls go through the gateway,
``{API_URL}/ex/{product}/{cloudId}``, never to ``*.atlassian.net``. The
session is a :class:`~django_atlassian_connect.http.bound.BoundSession`: the
same timeout, retries and :class:`~django_atlassian_connect.http.ConnectAPIError`
as every client of this package; the token goes to that base only.
"""

from __future__ import annotations

from typing import Any

import requests

from ..http import targets
from ..http.bound import BoundSession
from ..http.errors import product_says
from . import client_credentials

__all__ = ["ServiceAccountClient", "ServiceAccountSession"]


class ServiceAccountSession(BoundSession):
    """The session of a :class:`ServiceAccountClient`: a refused token is dropped from
    the caches (the next call gets a new one), and the hints name service-account causes."""

    base_name = "the gateway URL of this site"
    url_hint = (
        "Use a path relative to {API_URL}/ex/{product}/{cloudId}, e.g. '/rest/api/3/myself'; "
        "a service account's token is never sent to the site URL (*.atlassian.net)."
    )

    def __init__(self, *args: Any, client: ServiceAccountClient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def on_error_response(self, response: requests.Response) -> None:
        if response.status_code == 401:
            self.client.forget_token()

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code == 401:
            return (
                f"The gateway refused {self.who}'s access token (dropped: the next call gets "
                "a new one). If that fails too, the credential was revoked or the service "
                "account was removed from the site." + product_says(response)
            )
        if response.status_code == 403:
            return (
                "Forbidden: the credential's scopes lack the one this call needs (e.g. "
                "read:jira-work), or the service account has no access to this site or lacks "
                "the product permission." + product_says(response)
            )
        return super().hint_for(response)


class ServiceAccountClient:
    """A service account's OAuth 2.0 credential (client id and secret) on one site.

    ``cloud_id`` is the site's cloudId; ``product`` is ``"jira"`` (default) or
    ``"confluence"`` (then paths start with ``/wiki``). The token request
    happens on the first call, not here; ``access_token()`` gets one now.
    A 401 from the gateway drops the cached token, so the next call gets a new one.
    """

    credential = "service_account"

    def __init__(
        self, client_id: str, secret: str, cloud_id: str, *, product: str = "jira"
    ) -> None:
        if not client_id or not secret:
            raise ValueError(
                "client_id and secret are the service account's OAuth 2.0 credential "
                "(admin.atlassian.com, Directory > Service accounts)."
            )
        self.client_id = client_id
        self._secret = secret
        self.product = product
        self.cloud_id = cloud_id.strip().lower()
        self.base_url = targets.gateway_base_url(self.cloud_id, product)

    def __repr__(self) -> str:
        return f"<ServiceAccountClient {self.client_id} {self.base_url}>"

    def access_token(self) -> str:
        """A bearer token with more than ``OAUTH_REFRESH_MARGIN`` s left (a credential)."""
        return client_credentials.get_token(self.client_id, self._secret).token

    def authorization(self) -> str:
        """The ``Authorization`` header value. It is a credential: never log it."""
        return "Bearer " + self.access_token()

    def forget_token(self) -> None:
        """Drop the cached token; the next call asks for a new one."""
        client_credentials.forget_token(self.client_id, self._secret)

    def error_context(self) -> dict[str, Any]:
        return {
            "credential": self.credential,
            "client_id": self.client_id,
            "cloud_id": self.cloud_id,
        }

    def session(self, *, raise_for_status: bool = True) -> ServiceAccountSession:
        """A ``requests.Session`` bound to ``{API_URL}/ex/{product}/{cloudId}``.

        Each request carries the cached token (fetched when it has less than
        ``OAUTH_REFRESH_MARGIN`` s left); token failures raise ``service_account_refused`` or
        ``service_account_unavailable`` before the request is sent. An error status
        raises :class:`~django_atlassian_connect.http.ConnectAPIError` with
        ``credential``, ``client_id`` and ``cloud_id`` attributes.
        """
        return ServiceAccountSession(
            self.base_url,
            self.authorization,
            who=f"service account {self.client_id}",
            context=self.error_context(),
            raise_for_status=raise_for_status,
            client=self,
        )
