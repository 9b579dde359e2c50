"""The per-item job written once (housekeeping.jobs.ChunkedJob) and the claims under it.

Each test here pins a rule that the three jobs (verify installations, renew
impersonation tokens, refresh 3LO grants) used to write each in its own way:

- one item that raises never stops the batch: it is logged and counted as failed;
- every job names its claims ``<job name>:<pk>``;
- ``claimed()`` gives back every claim it still holds, whatever happens in the block.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from django_atlassian_connect import maintenance
from django_atlassian_connect.connect import housekeeping as connect_housekeeping
from django_atlassian_connect.connect import impersonation
from django_atlassian_connect.housekeeping import claims
from django_atlassian_connect.housekeeping.jobs import ChunkedJob
from django_atlassian_connect.models import AccessToken, OAuthGrant, Tenant
from django_atlassian_connect.models.locking import lock_or_create
from django_atlassian_connect.threelo import grants, linking, tokens
from django_atlassian_connect.threelo import housekeeping as threelo_housekeeping
from tests.housekeeping.test_fanout import chunk_of_two, tenants  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"


# -- claims ----------------------------------------------------------------------------------


def test_claimed_releases_what_it_still_holds_even_when_the_block_raises():
    other = claims.claim("unit:2")
    with pytest.raises(RuntimeError):
        with claims.claimed(["unit:1", "unit:2", "unit:3"]) as held:
            assert list(held) == ["unit:1", "unit:3"] and held.refused == ["unit:2"]
            held.release("unit:1")  # done early
            assert "unit:1" not in held and len(held) == 1
            raise RuntimeError("boom")
    assert claims.claim("unit:1") and claims.claim("unit:3")  # both given back
    assert claims.claim("unit:2") is None  # not ours: still held by the other
    claims.release("unit:2", other)


def test_claimed_gives_back_what_it_took_when_claiming_fails(monkeypatch):
    real = claims.claim

    def failing_on_the_second(name, ttl=None):
        if name == "unit:2":
            raise ConnectionError("cache down mid-way")
        return real(name, ttl)

    monkeypatch.setattr(claims, "claim", failing_on_the_second)
    with pytest.raises(ConnectionError):
        with claims.claimed(["unit:1", "unit:2"]):
            pass  # pragma: no cover - never reached
    monkeypatch.undo()
    assert claims.claim("unit:1") is not None


# -- the job, on its own -----------------------------------------------------------------------


class Row:
    def __init__(self, pk):
        self.pk = pk

    def __str__(self):
        return str(self.pk)


def toy_job(**options) -> ChunkedJob:
    def run_one(row, *, now):
        if row.pk == 2:
            raise RuntimeError("boom")
        return ("slow", f"item {row.pk}") if row.pk == 3 else "done"

    return ChunkedJob(
        name="toy",
        due_pks=lambda *, now: [1, 2, 3, 4],
        still_due=lambda pks, *, now: [Row(pk) for pk in pks],
        run_one=run_one,
        outcomes=("done", "failed"),
        occasional=("slow",),
        noted={"slow": "toy left %d item(s) for later: %s"},
        **options,
    )


def test_a_batch_counts_outcomes_skipped_and_the_occasional(caplog, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HOUSEKEEPING_CHUNK_SIZE": 10}
    caplog.set_level(logging.INFO, logger="django_atlassian_connect")
    held = claims.claim("toy:4")
    assert toy_job().batch([1, 2, 3, 4]) == {"done": 1, "failed": 1, "skipped": 1, "slow": 1}
    assert "toy: 2 failed; the batch goes on" in caplog.text
    assert "toy left 1 item(s) for later: item 3" in caplog.text
    claims.release("toy:4", held)
    # The plain loop: "skipped" only when some were.
    assert toy_job().run() == {"done": 2, "failed": 1, "slow": 1}
    for pk in (1, 2, 3, 4):  # every claim given back, the failed item's too
        assert claims.claim(f"toy:{pk}") is not None


def test_without_claims_nothing_is_claimed_or_skipped():
    held = claims.claim("toy:1")
    assert toy_job(claims=False).batch([1]) == {"done": 1, "failed": 0}
    claims.release("toy:1", held)


def test_a_limit_and_the_tidy_step():
    tidied = []
    job = toy_job(tidy=lambda *, now: tidied.append(now))
    assert job.run(limit=1) == {"done": 1, "failed": 0}
    assert len(tidied) == 1


# -- the three jobs: one key format ------------------------------------------------------------


def test_every_job_names_its_claims_the_same_way():
    names = [
        (maintenance.VERIFY_INSTALLATIONS, "verify_installation"),
        (connect_housekeeping.REFRESH_ACCESS_TOKENS, "refresh_access_token"),
        (threelo_housekeeping.REFRESH_OAUTH_GRANTS, "refresh_oauth_grant"),
    ]
    for job, name in names:
        assert job.claim_key(42) == f"{name}:42" == job.claim_key("42")
    assert not threelo_housekeeping.REFRESH_OAUTH_GRANTS.claims  # the row lock does it


@pytest.fixture
def due_tokens(request):
    now = timezone.now()
    rows = []
    for tenant in request.getfixturevalue("tenants")[:3]:
        rows.append(
            AccessToken.objects.create(
                tenant=tenant,
                account_id=ACCOUNT,
                scopes="READ",
                token="old",
                expires_at=now + timedelta(seconds=60),
                last_used_at=now,
            )
        )
    return rows


def test_an_access_token_claimed_elsewhere_is_skipped(due_tokens, monkeypatch):
    renewed = []
    monkeypatch.setattr(
        impersonation,
        "get_access_token",
        lambda tenant, *a, **k: renewed.append(tenant.pk) or "new",
    )
    held = claims.claim(f"refresh_access_token:{due_tokens[0].pk}")
    counts = connect_housekeeping.refresh_access_token_batch([row.pk for row in due_tokens])
    assert counts == {"refreshed": 2, "failed": 0, "skipped": 1}
    assert due_tokens[0].tenant_id not in renewed
    claims.release(f"refresh_access_token:{due_tokens[0].pk}", held)
    assert cache.get(f"atlassian_connect:claim:refresh_access_token:{due_tokens[0].pk}") is None


# -- the three jobs: one failing item never stops the batch -------------------------------------


def test_one_access_token_that_raises_never_stops_the_batch(due_tokens, monkeypatch, caplog):
    # Before: only ImpersonationError was caught; anything else ended the run.
    renewed = []

    def broken_for_the_second(tenant, account_id, scopes, *, force_refresh=False):
        if tenant.pk == due_tokens[1].tenant_id:
            raise RuntimeError("boom")
        renewed.append(tenant.pk)
        return "new"

    monkeypatch.setattr(impersonation, "get_access_token", broken_for_the_second)
    counts = connect_housekeeping.refresh_access_tokens()
    assert counts == {"refreshed": 2, "failed": 1}
    assert sorted(renewed) == sorted(row.tenant_id for row in due_tokens if row != due_tokens[1])
    assert "failed; the batch goes on" in caplog.text
    for row in due_tokens:  # every claim given back
        assert claims.claim(f"refresh_access_token:{row.pk}") is not None


def test_one_grant_that_raises_never_stops_the_batch(
    linked_user, oauth_server, django_user_model, monkeypatch, caplog
):
    # Before: only ConnectClientError was caught; anything else ended the run.
    others = []
    for name in ("lee", "max"):
        user = django_user_model.objects.create_user(username=name, password=f"{name}-pw-1")
        others.append(linking.link_account(user, oauth_server.issue_code(tokens.callback_url())))
    every = [linked_user.oauth_grant, *others]
    OAuthGrant.objects.filter(pk__in=[g.pk for g in every]).update(
        refresh_token_issued_at=timezone.now() - timedelta(days=31)
    )
    real = grants.refresh

    def broken_for_the_first(grant, **kwargs):
        if grant.pk == every[0].pk:
            raise RuntimeError("boom")
        return real(grant, **kwargs)

    monkeypatch.setattr(grants, "refresh", broken_for_the_first)
    counts = maintenance.refresh_oauth_grants()
    assert counts == {"refreshed": 0, "kept_alive": 2, "expired": 0, "revoked": 0, "failed": 1}
    assert f"OAuth 2.0 (3LO) grant {every[0].pk} failed; the batch goes on" in caplog.text
    assert oauth_server.counters["refresh_requests"] == 2


# -- lock or create a row: written once for tenants, Forge installations and access tokens -------


def test_lock_or_create_finds_creates_or_leaves_alone():
    manager = Tenant._default_manager
    fields = {"app_key": "com.example.tests", "base_url": "https://x.atlassian.net"}
    with transaction.atomic():
        assert lock_or_create(manager, {"client_key": "jira:x"}) == (None, False)
        row, created = lock_or_create(manager, {"client_key": "jira:x"}, fields)
        assert created and row.base_url == "https://x.atlassian.net"
        again, created = lock_or_create(manager, {"client_key": "jira:x"}, fields)
        assert (again.pk, created) == (row.pk, False)


@pytest.mark.parametrize("model", [Tenant, AccessToken])
def test_the_loser_of_a_create_race_locks_the_winners_row(model, due_tokens, monkeypatch):
    """The INSERT fails on the unique constraint (in a savepoint): the winner's row is locked."""
    winner = due_tokens[0] if model is AccessToken else due_tokens[0].tenant
    lookup = (
        {"tenant_id": winner.tenant_id, "account_id": winner.account_id, "scopes": winner.scopes}
        if model is AccessToken
        else {"client_key": winner.client_key}
    )
    manager = model._default_manager
    real = manager.select_for_update
    calls = []

    def select_for_update():  # the first look happens before the winner commits
        calls.append(1)
        return manager.none() if len(calls) == 1 else real()

    monkeypatch.setattr(manager, "select_for_update", select_for_update)
    before = model.objects.count()
    with transaction.atomic():
        create_with = {"expires_at": timezone.now()} if model is AccessToken else {"app_key": "x"}
        row, created = lock_or_create(manager, lookup, create_with)
        assert model.objects.count() == before  # the caller's transaction goes on
    assert (row.pk, created, len(calls)) == (winner.pk, False, 2)
