from django.conf import settings
from django.db import models


class IssueEvent(models.Model):
    """A webhook delivery this app received (what a real app would act on)."""

    tenant = models.ForeignKey(
        settings.ATLASSIAN_CONNECT_TENANT_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=100)
    issue_key = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event} {self.issue_key}"
