from django.contrib import admin
from django.urls import include, path

from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("django_atlassian_connect.urls")),
    path("page", views.page, name="page"),
    path("page/<path:rest>", views.page, name="page-rest"),
    path("context", views.context_view, name="context"),
    path("async/page", views.async_page, name="async-page"),
    path("async/context", views.async_context, name="async-context"),
    path("hook", views.webhook, name="hook"),
    path("drf/page", views.DrfPage.as_view(), name="drf-page"),
    path("drf/context", views.DrfContext.as_view(), name="drf-context"),
    path("drf/mixed", views.DrfMixed.as_view(), name="drf-mixed"),
]
