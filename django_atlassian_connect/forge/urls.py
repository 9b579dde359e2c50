"""``path("forge/", include("django_atlassian_connect.forge.urls"))``.

Serves the endpoints Forge's triggers call, under the prefix you include
them at (the manifest's ``endpoint.route.path`` must be the same URL):

- ``lifecycle`` (``atlassian_connect_forge:lifecycle``): ``POST /forge/lifecycle``;
- ``scheduled`` (``atlassian_connect_forge:scheduled``): ``POST /forge/scheduled``.

The paths have no trailing slash, as manifests write them; ``APPEND_SLASH``
never redirects a path that matches. Exempt the prefix from
``SECURE_SSL_REDIRECT`` (``SECURE_REDIRECT_EXEMPT = [r"^forge/"]``): Forge
follows no redirects.
"""

from django.urls import path

from .views import ForgeLifecycleView, ForgeScheduledView

app_name = "atlassian_connect_forge"

urlpatterns = [
    path("lifecycle", ForgeLifecycleView.as_view(), name="lifecycle"),
    path("scheduled", ForgeScheduledView.as_view(), name="scheduled"),
]
