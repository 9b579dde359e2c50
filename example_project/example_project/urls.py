from connect_demo import views
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("django_atlassian_connect.urls")),
    path("hello", views.hello, name="hello"),
    path("api/me", views.MeView.as_view(), name="api-me"),
    path("api/me-async", views.me_async, name="api-me-async"),
    path("product", views.product, name="product"),
    path("webhooks/issue-created", views.issue_created, name="webhook-issue-created"),
]
