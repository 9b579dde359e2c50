"""A URLconf that forgot ``include("django_atlassian_connect.urls")``."""

from django.urls import path

from tests.doctor_views import get_above

urlpatterns = [
    path("hello", get_above, name="hello"),
]
