"""A project that routes its own Forge view but not the package's Forge lifecycle URLs."""

from django.urls import include, path

from tests.testing.test_connect_on_forge import ForgeWhoAmI

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/whoami", ForgeWhoAmI.as_view()),
]
