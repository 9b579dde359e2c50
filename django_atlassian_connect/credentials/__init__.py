"""Calling Atlassian Cloud without Connect: API tokens and service accounts.

::

    from django_atlassian_connect.credentials import ApiTokenClient, ServiceAccountClient

    ApiTokenClient(email, token, "https://acme.atlassian.net").session()  # classic token
    ApiTokenClient(email, scoped_token, cloud_id).session()               # scoped token
    ServiceAccountClient(client_id, secret, cloud_id).session()           # client credentials

Users who link their own Atlassian account (OAuth 2.0 3LO) have
``django_atlassian_connect.threelo.client.OAuthClient``. Every client hands
out a :class:`~django_atlassian_connect.http.bound.BoundSession`: one base URL,
credentials sent there only, the package's retries and errors. See
``docs/guides/calling-without-connect.rst``.
"""

from .api_token import ApiTokenClient
from .service_account import ServiceAccountClient

__all__ = ["ApiTokenClient", "ServiceAccountClient"]
