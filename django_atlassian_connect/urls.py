"""``path("", include("django_atlassian_connect.urls"))``.

Serves ``/atlassian-connect.json`` and the lifecycle callbacks the descriptor
names.
"""

from django.urls import path

from .views import DescriptorView, LifecycleView

app_name = "atlassian_connect"

urlpatterns = [
    path("atlassian-connect.json", DescriptorView.as_view(), name="descriptor"),
    *(
        path(event, LifecycleView.as_view(event_type=event), name=event)
        for event in ("installed", "uninstalled", "enabled", "disabled")
    ),
]
