"""No Forge view routed: the manifest has connectModules and no modules."""

from django.urls import include, path

urlpatterns = [path("", include("django_atlassian_connect.urls"))]
