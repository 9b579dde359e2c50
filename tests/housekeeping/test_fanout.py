"""Housekeeping at scale: the per-tenant jobs fan out as Celery chunks, under claims.

- the plain loop (no Celery, eager, called directly) still does all the work;
- on a worker the job dispatches one chunk task per HOUSEKEEPING_CHUNK_SIZE
  items (run here with Celery in eager mode);
- a claim held elsewhere, or an item a concurrent run already did, is skipped:
  two beats never do the same work twice;
- a tenant whose site is near its rate limit (or in a 429 backoff) is left
  for a later run, and counted as deferred.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.core.cache import cache
from django.utils import timezone

from django_atlassian_connect import maintenance, tasks
from django_atlassian_connect.connect import housekeeping as connect_housekeeping
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.housekeeping import claims
from django_atlassian_connect.http import ratelimit
from django_atlassian_connect.models import AccessToken, SharedSecret, Tenant

pytestmark = pytest.mark.django_db

MYSELF = re.compile(r"https://site-\d+\.atlassian\.net/rest/api/3/myself")


@pytest.fixture
def chunk_of_two(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HOUSEKEEPING_CHUNK_SIZE": 2}


@pytest.fixture
def tenants(chunk_of_two):
    made = []
    for number in range(5):
        tenant = Tenant.objects.create(
            client_key=f"jira:site-{number}",
            app_key="com.example.tests",
            base_url=f"https://site-{number}.atlassian.net",
            product_type="jira",
            oauth_client_id=f"oauth-{number}",
        )
        SharedSecret.for_secret(tenant, f"secret-{number}-" + "s" * 40).save()
        made.append(tenant)
    return made


@pytest.fixture
def product(rsps):
    rsps.add(responses.GET, MYSELF, json={"accountType": "app"})
    return rsps


def calls_to_myself(rsps) -> int:
    return sum(1 for call in rsps.calls if MYSELF.fullmatch(call.request.url.split("?")[0]))


# -- the plain loop -------------------------------------------------------------------


def test_the_plain_loop_verifies_every_installation_in_chunks(tenants, product):
    assert maintenance.verify_installations() == {
        "ok": 5,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
    }
    assert calls_to_myself(product) == 5
    assert Tenant.objects.filter(verification_status="ok").count() == 5


def test_called_directly_or_with_apply_the_task_is_the_plain_loop(tenants, product):
    assert tasks.verify_installations()["ok"] == 5
    assert tasks.verify_installations.apply().get()["ok"] == 5
    assert calls_to_myself(product) == 10  # min_age 0: each run verifies everyone


def test_min_age_skips_installations_verified_recently(tenants, product):
    maintenance.verify_installations()
    assert maintenance.verify_installations(min_age=3600) == {
        "ok": 0,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
    }
    assert calls_to_myself(product) == 5


def test_uninstalled_and_disabled_installations_are_left_alone(tenants, product):
    Tenant.objects.filter(pk=tenants[0].pk).update(is_installed=False)
    Tenant.objects.filter(pk=tenants[1].pk).update(is_enabled=False)
    assert maintenance.verify_installations()["ok"] == 3


# -- the fan-out ----------------------------------------------------------------------


def test_on_a_worker_the_job_fans_out_in_chunks(tenants, product, eager_worker):
    assert tasks.verify_installations.delay().get() == {"dispatched": 5, "chunks": 3}
    assert [len(signature.args[0]) for signature in eager_worker] == [2, 2, 1]
    assert {signature.task for signature in eager_worker} == {tasks.verify_installations_chunk.name}
    # Every installation verified exactly once, by the chunks.
    assert calls_to_myself(product) == 5
    assert Tenant.objects.filter(verification_status="ok").count() == 5


def test_a_chunk_task_reports_its_counts(tenants, product, eager_worker):
    pks = [str(t.pk) for t in tenants[:2]]
    started = timezone.now().timestamp()
    result = tasks.verify_installations_chunk.delay(pks, started, 0).get()
    assert result == {"ok": 2, "unauthorized": 0, "forbidden": 0, "error": 0, "skipped": 0}


def test_refresh_access_tokens_fans_out_too(tenants, eager_worker, monkeypatch):
    now = timezone.now()
    for tenant in tenants[:3]:
        AccessToken.objects.create(
            tenant=tenant,
            account_id="5b10ac8d82e05b22cc7d4ef5",
            scopes="READ",
            token="old",
            expires_at=now + timedelta(seconds=60),
            last_used_at=now,
        )
    renewed = []

    def fake_grant(tenant, account_id, scopes, *, force_refresh=False):
        renewed.append(tenant.pk)
        AccessToken.objects.filter(tenant=tenant).update(
            expires_at=timezone.now() + timedelta(hours=1)
        )
        return "new"

    monkeypatch.setattr(impersonation, "get_access_token", fake_grant)
    assert tasks.refresh_access_tokens.delay().get() == {"dispatched": 3, "chunks": 2}
    assert sorted(renewed) == sorted(t.pk for t in tenants[:3])
    # Nothing is due any more: a second beat dispatches nothing.
    assert tasks.refresh_access_tokens.delay().get() == {"dispatched": 0, "chunks": 0}


# -- claims and idempotency -------------------------------------------------------------


def test_claims_are_exclusive_until_released_or_expired():
    token = claims.claim("unit", ttl=60)
    assert token is not None
    assert claims.claim("unit", ttl=60) is None
    claims.release("unit", "someone-else")  # not ours: kept
    assert claims.claim("unit", ttl=60) is None
    claims.release("unit", token)
    assert claims.claim("unit", ttl=0.2) is not None
    time.sleep(0.3)
    assert claims.claim("unit", ttl=60) is not None  # the holder died: its claim expired


def test_an_installation_claimed_elsewhere_is_skipped(tenants, product):
    held = claims.claim(f"verify_installation:{tenants[0].pk}")
    counts = maintenance.verify_installations_batch([t.pk for t in tenants])
    assert counts == {"ok": 4, "unauthorized": 0, "forbidden": 0, "error": 0, "skipped": 1}
    assert calls_to_myself(product) == 4
    claims.release(f"verify_installation:{tenants[0].pk}", held)
    assert cache.get(f"atlassian_connect:claim:verify_installation:{tenants[0].pk}") is None


def test_two_beats_never_verify_an_installation_twice(tenants, product):
    # Two beats fire together: both pick the same installations before either runs.
    first_started = second_started = timezone.now()
    pks = maintenance.due_installation_pks(started_at=first_started)
    assert len(pks) == 5
    first = maintenance.verify_installations_batch(pks, started_at=first_started)
    second = maintenance.verify_installations_batch(pks, started_at=second_started)
    assert first["ok"] == 5
    assert second == {"ok": 0, "unauthorized": 0, "forbidden": 0, "error": 0, "skipped": 5}
    assert calls_to_myself(product) == 5


def test_one_tenants_failure_never_stops_the_batch(tenants, product, monkeypatch, caplog):
    real = maintenance.verify_installation

    def broken_for_the_second(tenant):
        if tenant.pk == tenants[1].pk:
            raise RuntimeError("boom")
        return real(tenant)

    monkeypatch.setattr(connect_housekeeping, "verify_installation", broken_for_the_second)
    counts = maintenance.verify_installations_batch([t.pk for t in tenants])
    assert counts == {"ok": 4, "unauthorized": 0, "forbidden": 0, "error": 1, "skipped": 0}
    assert calls_to_myself(product) == 4
    assert f"{tenants[1].client_key} failed; the batch goes on" in caplog.text
    # Every claim is released, the failed one included.
    for tenant in tenants:
        assert claims.claim(f"verify_installation:{tenant.pk}") is not None


def test_poisoned_backoffs_never_stop_the_batch(tenants, product):
    # As an earlier version stored Retry-After: 1e12 (reading it raised) and a year-long one.
    now = time.time()
    for tenant, until in ((tenants[2], now + 1e12), (tenants[3], now + 365 * 86400)):
        ratelimit._cache().set(
            ratelimit._key("backoff", tenant.client_key), {"until": until, "since": now}
        )
    counts = maintenance.verify_installations()
    assert counts["ok"] == 4 and counts["deferred_rate_limited"] == 1
    assert calls_to_myself(product) == 4
    until = ratelimit.get_backoff(tenants[3].client_key).until.timestamp()
    assert until == pytest.approx(now + 3600, abs=0.01)


def test_without_a_lock_cache_claims_always_succeed(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HOUSEKEEPING_LOCK_ALIAS": None}
    assert claims.claim("unit") and claims.claim("unit")


def test_a_failing_lock_cache_does_not_stop_housekeeping(tenants, product, monkeypatch, caplog):
    class Broken:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

        get = delete = add

    monkeypatch.setattr(claims, "_cache", lambda: Broken())
    with caplog.at_level(logging.WARNING, logger="django_atlassian_connect"):
        assert claims.claim("unit") is not None
        claims.release("unit", "token")  # logged, not raised
        assert maintenance.verify_installations()["ok"] == 5
    assert "claim unit: the lock cache failed (ConnectionError); going ahead" in caplog.text
    assert "release unit: the lock cache failed (ConnectionError)" in caplog.text
    assert calls_to_myself(product) == 5


def test_chunks_split_evenly():
    assert list(claims.chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(claims.chunks([], 2)) == []


# -- rate limits: housekeeping is not urgent ---------------------------------------------------


def _near_limit(tenant, *, reset_in: float = 600) -> None:
    reset = datetime.fromtimestamp(time.time() + reset_in, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"X-RateLimit-Remaining": "3", "X-RateLimit-NearLimit": "true"}
    ratelimit.record(tenant.client_key, {**headers, "X-RateLimit-Reset": reset}, 200)


def test_tenants_near_their_rate_limit_are_deferred_and_stay_due(tenants, product, caplog):
    _near_limit(tenants[0])
    ratelimit.record(tenants[1].client_key, {"Retry-After": "60"}, 429)  # in backoff
    caplog.set_level(logging.INFO, logger="django_atlassian_connect")
    assert maintenance.verify_installations() == {
        "ok": 3,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
        "deferred_rate_limited": 2,
    }
    assert calls_to_myself(product) == 3
    for tenant in tenants[:2]:
        tenant.refresh_from_db()
        assert tenant.last_verified_at is None and tenant.verification_status == ""
    lines = [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]
    assert len(lines) == 1
    assert f"{tenants[0].client_key} (near_limit)" in lines[0]
    assert f"{tenants[1].client_key} (backoff)" in lines[0]
    # The quota is back: the next run verifies exactly the two left over.
    for tenant in tenants[:2]:
        ratelimit.clear(tenant.client_key)
    assert maintenance.verify_installations(min_age=3600)["ok"] == 2
    assert calls_to_myself(product) == 5


def test_a_near_limit_past_its_reset_defers_nothing(tenants, product):
    _near_limit(tenants[0], reset_in=-1)
    assert "deferred_rate_limited" not in maintenance.verify_installations()
    assert calls_to_myself(product) == 5


def test_a_chunk_task_counts_the_deferred(tenants, product, eager_worker):
    _near_limit(tenants[0])
    pks = [str(t.pk) for t in tenants[:2]]
    result = tasks.verify_installations_chunk.delay(pks, timezone.now().timestamp(), 0).get()
    assert result == {
        "ok": 1,
        "unauthorized": 0,
        "forbidden": 0,
        "error": 0,
        "skipped": 0,
        "deferred_rate_limited": 1,
    }
