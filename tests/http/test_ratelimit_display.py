"""What people see of a rate limit: the admin, connect_tenants --rate-limits."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from django_atlassian_connect.http import ratelimit
from tests.http.ratelimit_support import QUOTA

# -- what people see: the admin, connect_tenants --------------------------------------------


def _seen(tenant, **headers):
    ratelimit.record(tenant.client_key, {**QUOTA, **headers}, 429 if headers else 200)


@pytest.mark.django_db
def test_the_admin_tenant_page_shows_the_rate_limit(tenant, client, django_user_model):
    from django.urls import reverse

    user = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    client.force_login(user)
    url = reverse("admin:django_atlassian_connect_tenant_change", args=[tenant.pk])
    html = client.get(url).content.decode()
    assert "Rate limit" in html
    _seen(tenant, **{"Retry-After": "120", "RateLimit-Reason": "jira-quota-global-based"})
    html = client.get(url).content.decode()
    assert "12/100 left" in html and "resets 2026-03-02T14:00:00Z" in html
    assert "near limit" in html and "jira-quota-global-based" in html
    assert "backoff until " in html


@pytest.mark.django_db
def test_connect_tenants_shows_the_rate_limit(tenant):
    def output(*args):
        out = io.StringIO()
        call_command("connect_tenants", *args, stdout=out)
        return out.getvalue()

    assert "rate limit" not in output()  # only when asked: the columns stay as they were
    (line,) = [ln for ln in output("--rate-limits").splitlines() if tenant.client_key in ln]
    assert line.endswith("\trate limit -")
    _seen(tenant)
    (line,) = [ln for ln in output("--rate-limits").splitlines() if tenant.client_key in ln]
    last = line.split("\t")[-1]
    assert last.startswith("rate limit 12/100 left, resets 2026-03-02T14:00:00Z, near limit")
    assert "backoff" not in last


def test_describe_nothing_seen():
    assert ratelimit.describe(None) == "-"
