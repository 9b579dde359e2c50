"""Helpers shared by the tenant-cache test modules: authenticate a request, a fake clock."""

from __future__ import annotations

from rest_framework.request import Request

from django_atlassian_connect.authentication import ConnectJWTAuthentication
from django_atlassian_connect.models import Tenant


def authenticate(rf, site, path="/drf/page", token=None):
    token = token or site.page_token(path)
    request = Request(rf.get(path, HTTP_AUTHORIZATION=f"JWT {token}"))
    return ConnectJWTAuthentication().authenticate(request)


class Clock:
    """Stands in for ``time.monotonic`` in tenant_cache."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def change_behind_our_back(client_key, **fields):
    """What another process's commit looks like to this one: no signal reaches us."""
    from django.utils import timezone

    Tenant.objects.filter(client_key=client_key).update(updated_at=timezone.now(), **fields)
