"""``path("forge/", include("django_atlassian_connect.forge.urls"))``.

Serves the endpoints Forge's triggers call, under the prefix you include
them at (the manifest's ``endpoint.route.path`` must be the same URL):

- ``lifecycle`` (``atlassian_connect_forge:lifecycle``): ``POST /forge/lifecycle``;
- ``scheduled`` (``atlassian_connect_forge:scheduled``): ``POST /forge/scheduled``;
- ``events`` (``atlassian_connect_forge:events``): ``POST /forge/events``, product events;
- ``pre_uninstall`` (``atlassian_connect_forge:pre_uninstall``): ``POST /forge/pre-uninstall``;
- ``realm_migration`` (``atlassian_connect_forge:realm_migration``, ``phase=...``):
  ``/forge/realm-migration/<phase>``; the manifest's ``migration:dataResidency``
  ``path`` is the prefix ``/forge/realm-migration`` (Forge appends the phase).

The paths have no trailing slash, as manifests write them; ``APPEND_SLASH``
never redirects a path that matches. Exempt the prefix from
``SECURE_SSL_REDIRECT`` (``SECURE_REDIRECT_EXEMPT = [r"^forge/"]``): Forge
follows no redirects.
"""

from django.urls import path

from .views import (
    ForgeEventsView,
    ForgeLifecycleView,
    ForgePreUninstallView,
    ForgeRealmMigrationView,
    ForgeScheduledView,
)

app_name = "atlassian_connect_forge"

urlpatterns = [
    path("lifecycle", ForgeLifecycleView.as_view(), name="lifecycle"),
    path("scheduled", ForgeScheduledView.as_view(), name="scheduled"),
    path("events", ForgeEventsView.as_view(), name="events"),
    path("pre-uninstall", ForgePreUninstallView.as_view(), name="pre_uninstall"),
    path("realm-migration/<str:phase>", ForgeRealmMigrationView.as_view(), name="realm_migration"),
]
