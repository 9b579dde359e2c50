from django.urls import include, path

from otherproject import views

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
    path("api/whoami", views.ConnectWhoAmI.as_view()),
    path("forge/whoami", views.ForgeWhoAmI.as_view()),
]
