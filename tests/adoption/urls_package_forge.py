"""The package's own Forge URLconf, every view of it (realm migration included)."""

from django.urls import include, path

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
]
