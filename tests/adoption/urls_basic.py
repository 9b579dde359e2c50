"""Lifecycle and scheduled Forge views only (no events, no pre-uninstall)."""

from django.urls import include, path

from tests.adoption.urls import forge_patterns

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include((forge_patterns[:2], "atlassian_connect_forge"))),
]
