from django.urls import include, path

from .views import MeView, hello

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("hello", hello, name="hello"),
    path("api/me", MeView.as_view(), name="api-me"),
]
