"""URLconfs of the adoption tests: which Forge views are routed decides the manifest.

``urlpatterns``: all four Forge views (the events and pre-uninstall views are
stand-ins marked as Forge views, so these tests do not depend on their code);
``tests.adoption.urls_basic``: lifecycle and scheduled only; ``urls_connect_only``:
no Forge view at all.
"""

from django.http import HttpResponse
from django.urls import include, path
from django.views import View

from django_atlassian_connect.forge.views import ForgeLifecycleView, ForgeScheduledView


class StandInForgeView(View):
    connect_token_kind = "forge"

    def post(self, request, *args, **kwargs):
        return HttpResponse(status=204)


forge_patterns = [
    path("lifecycle", ForgeLifecycleView.as_view(), name="lifecycle"),
    path("scheduled", ForgeScheduledView.as_view(), name="scheduled"),
    path("events", StandInForgeView.as_view(), name="events"),
    path("pre-uninstall", StandInForgeView.as_view(), name="pre_uninstall"),
]

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include((forge_patterns, "atlassian_connect_forge"))),
    path("hook", StandInForgeView.as_view(), name="hook"),
]
