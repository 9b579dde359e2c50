"""A committed lifecycle delivery is answered as applied, whatever fails after the commit.

The soak (``benchmarks/soak``) found it: PostgreSQL stopping right after a
rotation committed made the tenant cache's reload (run after the commit)
fail, the delivery was answered 503 "nothing was changed", and the site kept
the secret the app had just retired.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError

from django_atlassian_connect import signals
from django_atlassian_connect.connect import tenant_cache
from django_atlassian_connect.models import LifecycleEvent, Tenant

ROTATED = "rotated-secret-" + "z" * 40
GONE = OperationalError("terminating connection due to administrator command")


def fail(**kwargs):
    raise GONE


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signal", ["tenant_installed", "shared_secret_rotated"])
def test_a_receiver_failing_after_the_commit_does_not_refuse_the_rotation(
    installed_site, signal, caplog
):
    getattr(signals, signal).connect(fail, weak=False, dispatch_uid="fails")
    try:
        response = installed_site.install(secret=ROTATED)
    finally:
        getattr(signals, signal).disconnect(dispatch_uid="fails")
    assert response.status_code == 204, response.content
    tenant = Tenant.objects.get(client_key=installed_site.client_key)
    assert tenant.current_secret.secret == ROTATED
    assert LifecycleEvent.objects.filter(accepted=True, secret_rotated=True).count() == 1
    assert "lifecycle installed: a receiver failed after the commit" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_receiver_failing_after_an_uninstall_does_not_refuse_it(installed_site):
    signals.tenant_uninstalled.connect(fail, weak=False, dispatch_uid="fails")
    try:
        response = installed_site.uninstall()
    finally:
        signals.tenant_uninstalled.disconnect(dispatch_uid="fails")
    assert response.status_code == 204, response.content
    assert not Tenant.objects.get(client_key=installed_site.client_key).is_installed


@pytest.mark.django_db
def test_the_cache_reload_after_the_commit_survives_the_database_going_away(
    installed_site, rf, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks() as callbacks:
        assert installed_site.install(secret=ROTATED).status_code == 204
    with mock.patch.object(tenant_cache, "load", side_effect=GONE):
        for callback in callbacks:
            callback()  # the database is gone when the reload runs
    assert "after the commit failed (OperationalError); the next request reads" in caplog.text
    # The stale entry was dropped before the commit: the new secret is used at once.
    snapshot, from_cache = tenant_cache.get(installed_site.client_key)
    assert not from_cache
    assert snapshot is not None and snapshot.candidates()[0].secret == ROTATED
