"""The OAuth 2.0 (3LO) account-linking views, for ``include()``::

    urlpatterns = [
        path("", include("django_atlassian_connect.urls")),
        path("", include("django_atlassian_connect.oauth_urls")),  # /oauth/connect, /oauth/callback
    ]

Namespace ``atlassian_oauth``: ``reverse("atlassian_oauth:connect")``. See
:mod:`django_atlassian_connect.threelo.views`.
"""

from .threelo.urls import app_name, urlpatterns

__all__ = ["app_name", "urlpatterns"]
