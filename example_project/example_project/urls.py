from connect_demo import forge_views, oauth_views, views
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Django's login (/accounts/login/, /accounts/logout/, ...): who links an Atlassian account.
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("django_atlassian_connect.urls")),
    path("hello", views.hello, name="hello"),
    path("api/me", views.MeView.as_view(), name="api-me"),
    path("api/me-async", views.me_async, name="api-me-async"),
    path("product", views.product, name="product"),
    path("webhooks/issue-created", views.issue_created, name="webhook-issue-created"),
]

# Forge Remote only when configured (CONNECT_FORGE_APP_ID): otherwise these
# paths do not exist (404) rather than failing with ImproperlyConfigured.
if settings.ATLASSIAN_CONNECT.get("FORGE_APP_ID"):
    urlpatterns += [
        # POST /forge/lifecycle and POST /forge/scheduled: the library's views.
        path("forge/", include("django_atlassian_connect.forge.urls")),
        path("forge/me", forge_views.ForgeMeView.as_view(), name="forge-me"),
        path("forge/myself", forge_views.forge_myself, name="forge-myself"),
        path("forge/licensed", forge_views.ForgeLicensedView.as_view(), name="forge-licensed"),
    ]

# OAuth 2.0 (3LO) account linking only when configured (CONNECT_OAUTH_CLIENT_ID).
if settings.ATLASSIAN_CONNECT.get("OAUTH_CLIENT_ID"):
    urlpatterns += [
        # GET /oauth/connect, GET /oauth/callback, POST /oauth/disconnect: the library's views.
        path("", include("django_atlassian_connect.oauth_urls")),
        path("oauth/resources", oauth_views.resources, name="oauth-resources"),
        path("oauth/myself", oauth_views.myself, name="oauth-myself"),
    ]
