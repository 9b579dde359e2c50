"""Calling Jira and Confluence as a user who linked their Atlassian account (3LO).

::

    from django_atlassian_connect.threelo.client import OAuthClient

    client = OAuthClient.for_user(request.user, cloud_id)      # or OAuthClient(grant, cloud_id)
    client.session().get("/rest/api/3/myself").json()
    OAuthClient(grant, cloud_id, product="confluence").session().get("/wiki/rest/api/user/current")

The session is an :class:`~.sessions.OAuthSession`, a
:class:`~django_atlassian_connect.http.bound.BoundSession` on
``{API_URL}/ex/jira/{cloudId}`` (``/ex/confluence/{cloudId}`` with
``/wiki`` paths): the user's access token goes there only, never to the
site URL (``*.atlassian.net``) or another cloudId, with the package's
timeouts, retries honouring ``Retry-After`` and
:class:`~django_atlassian_connect.http.ConnectAPIError` for error answers.
Before each request the token is refreshed when it has less than
``OAUTH_REFRESH_MARGIN`` seconds left (:func:`~.grants.access_token`: one
refresh across all processes). A grant that is no longer active raises
``oauth_grant_revoked``/``oauth_grant_expired`` before anything is sent.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ConnectClientError
from ..http.targets import PRODUCTS, gateway_base_url, is_cloud_id
from ..models import OAuthGrant
from . import grants
from .sessions import OAuthSession

__all__ = ["OAuthClient", "OAuthSession"]


class OAuthClient:
    """Calls for one grant on one site (``cloud_id``, from the grant's sites)."""

    def __init__(self, grant: OAuthGrant, cloud_id: str, *, product: str = "jira") -> None:
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {', '.join(PRODUCTS)}, not {product!r}.")
        self.grant = grant
        self.cloud_id = cloud_id
        self.product = product
        context = self.error_context()
        if not is_cloud_id(cloud_id) or not grant.sites.filter(cloud_id=cloud_id).exists():
            raise ConnectClientError(
                "oauth_site_not_linked",
                f"The Atlassian account linked by user {grant.user_id} gave no access to site "
                f"{cloud_id[:64]!r}; nothing was sent.",
                **context,
            )
        self.base_url = gateway_base_url(cloud_id, product)

    @classmethod
    def for_user(cls, user: Any, cloud_id: str, *, product: str = "jira") -> OAuthClient:
        """The client of ``user``'s grant for ``cloud_id`` (:func:`~.grants.grant_for`)."""
        return cls(grants.grant_for(user, cloud_id), cloud_id, product=product)

    def __repr__(self) -> str:
        return f"<OAuthClient grant={self.grant.pk} {self.product} {self.cloud_id}>"

    def error_context(self) -> dict[str, Any]:
        return {
            "grant": self.grant,
            "user_id": self.grant.user_id,
            "account_id": self.grant.account_id,
            "cloud_id": self.cloud_id,
        }

    def authorization(self) -> str:
        """``Bearer <access token>``, refreshed first when it runs out."""
        return f"Bearer {grants.access_token(self.grant)}"

    def session(self, *, raise_for_status: bool = True) -> OAuthSession:
        """A ``requests.Session`` on ``{API_URL}/ex/{product}/{cloudId}`` as the user.

        Raises ``oauth_grant_revoked``/``oauth_grant_expired`` at once when the
        grant is no longer active.
        """
        if self.grant.status != OAuthGrant.Status.ACTIVE:
            raise grants.grant_gone(self.grant)
        account = self.grant.account_name or self.grant.account_id or "the linked account"
        return OAuthSession(
            self.base_url,
            self.authorization,
            who=f"the OAuth 2.0 (3LO) token of {account} (user {self.grant.user_id})",
            context=self.error_context(),
            raise_for_status=raise_for_status,
        )
