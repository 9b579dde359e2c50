"""models.py: str/repr never show secrets, the one-current-secret constraint, swapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from django_atlassian_connect.models import (
    AbstractTenant,
    LifecycleEvent,
    SharedSecret,
    Tenant,
    get_tenant_model,
)

pytestmark = pytest.mark.django_db

SECRET = "ATCOsecret-models-" + "9" * 60


def make_tenant(client_key: str = "jira:models-1", **fields) -> Tenant:
    return Tenant.objects.create(
        client_key=client_key,
        app_key="com.example.tests",
        base_url=fields.pop("base_url", "https://models.atlassian.net"),
        **fields,
    )


def texts(obj) -> list[str]:
    return [str(obj), repr(obj)]


# -- str / repr ---------------------------------------------------------------------


def test_tenant_str_and_repr():
    tenant = make_tenant()
    SharedSecret.for_secret(tenant, SECRET).save()
    assert str(tenant) == "https://models.atlassian.net (jira:models-1)"
    assert repr(tenant) == "<Tenant 'jira:models-1' 'https://models.atlassian.net'>"
    for text in texts(Tenant.objects.get(pk=tenant.pk)):
        assert SECRET not in text


def test_shared_secret_str_and_repr():
    tenant = make_tenant()
    row = SharedSecret.for_secret(tenant, SECRET)
    row.save()
    assert str(row) == f"{row.fingerprint} (current)"
    assert repr(row) == f"<SharedSecret {row.fingerprint} tenant={tenant.pk} retired_at=None>"
    loaded = SharedSecret.objects.get(pk=row.pk)
    assert loaded.secret == SECRET  # decrypted on load...
    for text in [*texts(row), *texts(loaded), repr(loaded.__dict__)]:
        assert SECRET not in text  # ...yet never shown
    loaded.retired_at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert str(loaded) == f"{row.fingerprint} (retired 2024-05-06 07:08:09)"
    assert "retired_at=2024-05-06 07:08:09" in repr(loaded)
    assert SECRET not in str(loaded) and SECRET not in repr(loaded)


def test_shared_secret_for_secret_sets_the_fingerprint():
    from django_atlassian_connect.crypto import fingerprint

    row = SharedSecret.for_secret(make_tenant(), SECRET, became_current_at=timezone.now())
    assert row.fingerprint == fingerprint(SECRET)
    assert row.is_current


def test_lifecycle_event_str_and_repr(installed_site):
    events = list(LifecycleEvent.objects.filter(client_key=installed_site.client_key))
    assert events
    for event in events:
        assert str(event) == f"installed {installed_site.client_key} accepted"
        for text in [*texts(event), str(event.payload), event.detail]:
            assert installed_site.secret not in text
        assert "sharedSecret" not in event.payload


def test_refused_lifecycle_event_str():
    event = LifecycleEvent.objects.create(
        event_type="installed",
        client_key="",
        accepted=False,
        status_code=401,
        error_code="token_missing",
    )
    assert str(event) == "installed ? refused (token_missing)"


# -- the current-secret constraint ------------------------------------------------------


def test_two_current_secrets_for_one_tenant_are_refused():
    tenant = make_tenant()
    SharedSecret.for_secret(tenant, SECRET).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        SharedSecret.for_secret(tenant, SECRET + "-second").save()
    assert SharedSecret.objects.filter(tenant=tenant).count() == 1


def test_retired_secrets_are_not_limited():
    tenant = make_tenant()
    now = timezone.now()
    for i in range(3):
        SharedSecret.for_secret(
            tenant, f"{SECRET}-{i}", retired_at=now - timedelta(minutes=i)
        ).save()
    SharedSecret.for_secret(tenant, SECRET).save()
    assert SharedSecret.objects.filter(tenant=tenant).count() == 4
    assert tenant.current_secret.secret == SECRET


def test_each_tenant_has_its_own_current_secret():
    first, second = make_tenant("jira:a"), make_tenant("jira:b", base_url="https://b.atlassian.net")
    SharedSecret.for_secret(first, SECRET).save()
    SharedSecret.for_secret(second, SECRET).save()
    assert first.current_secret.fingerprint == second.current_secret.fingerprint


def test_current_secret_property():
    tenant = make_tenant()
    assert tenant.current_secret is None
    old = SharedSecret.for_secret(tenant, SECRET + "-old", retired_at=timezone.now())
    old.save()
    assert tenant.current_secret is None
    current = SharedSecret.for_secret(tenant, SECRET)
    current.save()
    assert tenant.current_secret.pk == current.pk


def test_client_key_is_unique():
    make_tenant()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_tenant()


@pytest.mark.parametrize(
    ("product_type", "base_url", "expected"),
    [
        ("confluence", "https://acme.atlassian.net/wiki", True),
        ("", "https://acme.atlassian.net/wiki/", True),
        ("jira", "https://acme.atlassian.net", False),
    ],
)
def test_is_confluence(product_type, base_url, expected):
    assert Tenant(product_type=product_type, base_url=base_url).is_confluence is expected


# -- the tenant model setting ---------------------------------------------------------


def test_get_tenant_model_returns_tenant():
    assert get_tenant_model() is Tenant
    assert issubclass(get_tenant_model(), AbstractTenant)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("no_dot_here", "form"),
        ("django_atlassian_connect.Missing", "not installed"),
        ("nope.Tenant", "not installed"),
    ],
)
def test_get_tenant_model_misconfigured(settings, value, words):
    settings.ATLASSIAN_CONNECT_TENANT_MODEL = value
    with pytest.raises(ImproperlyConfigured) as excinfo:
        get_tenant_model()
    assert "ATLASSIAN_CONNECT_TENANT_MODEL" in str(excinfo.value)
    assert words in str(excinfo.value)
