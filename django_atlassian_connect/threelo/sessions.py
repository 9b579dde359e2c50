"""The session :class:`~.client.OAuthClient` hands out: a
:class:`~django_atlassian_connect.http.bound.BoundSession` with the hints of a user's
OAuth 2.0 (3LO) access token."""

from __future__ import annotations

import requests

from ..http.bound import BoundSession
from ..http.errors import product_says

__all__ = ["OAuthSession"]


class OAuthSession(BoundSession):
    """``{API_URL}/ex/{product}/{cloudId}`` with one user's access token.

    The token is refreshed before a request when it has less than
    ``OAUTH_REFRESH_MARGIN`` seconds left (by its recorded expiry), never
    because of an error status: a 401, 403 or 404 alone says nothing about
    the token's age, and refreshing on each one would spend refresh tokens.
    """

    url_hint = (
        "Use a path relative to {API_URL}/ex/{product}/{cloudId}, e.g. '/rest/api/3/myself' "
        "(Jira) or '/wiki/rest/api/user/current' (Confluence); a 3LO token is never sent "
        "to the site URL (*.atlassian.net)."
    )
    base_name = "the gateway URL of this site"

    def hint_for(self, response: requests.Response) -> str:
        if response.status_code == 401:
            return (
                f"The gateway refused {self.who}, which our records still call valid: the user "
                "may have revoked the app's access (the next refresh then answers invalid_grant "
                "and the grant is marked revoked), or the token was sent for a site the "
                "user did not grant. A 401 alone does not trigger a refresh."
                + product_says(response)
            )
        if response.status_code == 403:
            return (
                "Forbidden: the grant's scopes lack the one this call needs (scopes are fixed at "
                "consent: add it to OAUTH_SCOPES and have the user link the account again), or "
                "the user lacks the product permission. 3LO traffic counts against the "
                "points-based rate limits." + product_says(response)
            )
        return super().hint_for(response)
