"""Calling Jira or Confluence Cloud with an Atlassian API token (HTTP Basic ``email:token``).

::

    # A classic API token: the site URL.
    ApiTokenClient("ada@example.com", token, "https://acme.atlassian.net").session()
    # A scoped API token: only through the gateway, {API_URL}/ex/jira/{cloudId}.
    client = ApiTokenClient("ada@example.com", token, "f1c3...-cloud-id")
    client.session().get("/rest/api/3/myself").json()

The session is a :class:`~django_atlassian_connect.http.bound.BoundSession`
bound to that one base URL: the same timeout, User-Agent, retries honouring
``Retry-After`` and :class:`~django_atlassian_connect.http.ConnectAPIError`
as every other client of this package. The token goes to that base only
(another origin or path is ``url_not_allowed`` before a byte is sent; a
redirect elsewhere is followed without it). It never appears in a ``repr()``,
a log line or an error message.
"""

from __future__ import annotations

import base64
from typing import Any

import requests

from ..http import targets
from ..http.bound import BoundSession
from ..http.errors import product_says

__all__ = ["ApiTokenClient", "ApiTokenSession"]

_RENEW = (
    "Create a new token at https://id.atlassian.com/manage-profile/security/api-tokens "
    "(since 2024-12-15 API tokens expire, 1 year by default)."
)


class ApiTokenSession(BoundSession):
    """The session of an :class:`ApiTokenClient`: hints that name API-token causes.

    ``through_gateway``: a scoped token on ``{API_URL}/ex/...``; else a classic
    token on the site URL, where Jira runs a call whose Basic pair it does not
    accept **as anonymous** (the 404 "Issue does not exist or you do not have
    permission to see it").
    """

    def __init__(self, *args: Any, through_gateway: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.through_gateway = through_gateway
        if through_gateway:
            self.base_name = "the gateway URL of this site"
            self.url_hint = (
                "Use a path relative to {API_URL}/ex/{product}/{cloudId}, e.g. "
                "'/rest/api/3/myself'; a scoped API token is never sent to the site URL."
            )
        else:
            self.base_name = "the site URL"

    def hint_for(self, response: requests.Response) -> str:
        status = response.status_code
        said = product_says(response)
        if status == 401 and self.through_gateway:
            return (
                f"The gateway refused {self.who}: it expired or was revoked, the email is not "
                "the token owner's, or it is a classic token without scopes (those work on "
                "the site URL only). " + _RENEW + said
            )
        if status == 401:
            return (
                f"The site refused {self.who}: it expired or was revoked, or the email is not "
                "the token owner's (then the call ran as anonymous, which this resource does "
                "not allow). A scoped token is never accepted on the site URL: give the "
                "cloudId instead. " + _RENEW + said
            )
        if status == 404 and not self.through_gateway:
            return (
                "If the resource exists: the site did not accept the email/token pair and ran "
                "the call as anonymous, which sees nothing (a wrong email, another account's "
                "token, a revoked token, or a scoped token sent to the site URL: scoped tokens "
                "work through {API_URL}/ex/jira/{cloudId} only). GET /rest/api/3/myself "
                "answers 401 then. connect_doctor credentials explains the answer." + said
            )
        if status == 403:
            scope = (
                "the token's scopes lack the one this call needs (e.g. read:jira-work), or "
                if self.through_gateway
                else ""
            )
            return f"Forbidden: {scope}the account lacks the product permission." + said
        return super().hint_for(response)


class ApiTokenClient:
    """Basic ``email:token`` for one site.

    ``site_or_cloud_id`` is the site URL (``https://acme.atlassian.net``: classic
    tokens), a cloudId (scoped tokens, which Atlassian accepts through the gateway
    only), or the whole gateway URL ``{API_URL}/ex/jira/{cloudId}``. ``product``
    (``"jira"`` or ``"confluence"``) picks the gateway path for a cloudId;
    Confluence paths then start with ``/wiki``.

    API tokens are one person's identity (the email's account), and their traffic
    is exempt from the points-based rate limits of OAuth apps. Since 2024-12-15 a
    new token expires (1 year by default): an expired one is a 401.
    """

    credential = "api_token"

    def __init__(
        self, email: str, token: str, site_or_cloud_id: str, *, product: str = "jira"
    ) -> None:
        if not email or "@" not in email:
            raise ValueError(
                "email is the Atlassian account's email address (the token owner's): "
                f"{email[:100]!r} is not one."
            )
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("token is the API token from id.atlassian.com (one line).")
        if ":" in email:
            raise ValueError("The email address may not contain ':' (Basic auth splits on it).")
        self.email = email
        self._token = token
        target = site_or_cloud_id.strip()
        self.product = product
        self.cloud_id: str | None = None
        self.site_url: str | None = None
        gateway = targets.parse_gateway_url(target) if "://" in target else None
        if gateway is not None:
            self.product, self.cloud_id = gateway
            self.base_url = targets.gateway_base_url(self.cloud_id, self.product)
        elif "://" in target:
            self.site_url = self.base_url = targets.site_base_url(target)
        else:
            self.base_url = targets.gateway_base_url(target, product)
            self.cloud_id = target.lower()

    @property
    def through_gateway(self) -> bool:
        """Scoped token mode: calls go to ``{API_URL}/ex/{product}/{cloudId}``."""
        return self.cloud_id is not None

    def __repr__(self) -> str:
        return f"<ApiTokenClient {self.email} {self.base_url}>"

    def authorization(self) -> str:
        """The ``Authorization`` header value. It is a credential: never log it."""
        pair = f"{self.email}:{self._token}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def error_context(self) -> dict[str, Any]:
        """What every error of this client's sessions carries (no token)."""
        return {
            "credential": self.credential,
            "email": self.email,
            "cloud_id": self.cloud_id,
            "site_url": self.site_url,
        }

    def session(self, *, raise_for_status: bool = True) -> ApiTokenSession:
        """A ``requests.Session`` bound to :attr:`base_url`, sending the token there only.

        Relative paths resolve against the base (``/rest/api/3/myself``); an error
        status raises :class:`~django_atlassian_connect.http.ConnectAPIError`
        (unless ``raise_for_status=False``) whose ``credential``, ``email``,
        ``cloud_id`` and ``site_url`` attributes say which token was used.
        """
        kind = "scoped API token" if self.through_gateway else "API token"
        return ApiTokenSession(
            self.base_url,
            self.authorization,
            who=f"the {kind} of {self.email}",
            context=self.error_context(),
            raise_for_status=raise_for_status,
            through_gateway=self.through_gateway,
        )
