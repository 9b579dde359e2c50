"""``/oauth/connect``, ``/oauth/callback``, ``/oauth/disconnect`` (namespace ``atlassian_oauth``).

Include them through :mod:`django_atlassian_connect.oauth_urls`::

    path("", include("django_atlassian_connect.oauth_urls")),

The callback's path must match ``OAUTH_CALLBACK_URL`` (default
``BASE_URL + "/oauth/callback"``) and the callback URL registered in the
Atlassian developer console.
"""

from django.urls import path

from . import views

app_name = "atlassian_oauth"

urlpatterns = [
    path("oauth/connect", views.connect, name="connect"),
    path("oauth/callback", views.callback, name="callback"),
    path("oauth/disconnect", views.disconnect, name="disconnect"),
]
