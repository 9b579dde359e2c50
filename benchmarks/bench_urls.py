from connect_demo.views import MeView
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


class OpenMeView(MeView):
    """/api/me without authentication: same framework path, same answer size."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"clientKey": "jira:bench", "accountId": "5b10ac8d82e05b22cc7d4ef5"})


urlpatterns = [
    path("", include("example_project.urls")),
    path("api/me-open", OpenMeView.as_view()),
]
