"""Forge installations: the upsert, its races, the app system token store, the layering.

Real invocations from the simulated Forge platform (``forge_host``), verified
as the front door verifies them, then recorded.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_atlassian_connect import crypto
from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge.installations import (
    get_installation,
    installations_running_out,
    record_invocation,
    stored_system_token,
    system_token_expiry,
)
from django_atlassian_connect.models import ForgeInstallation
from tests.forge.installations_support import (
    ARI,
    invocation,
    opaque_token,
    raw_token_column,
    with_token,
)
from tests.import_graph import PACKAGE, ROOT, build_graph

pytestmark = pytest.mark.django_db


# -- the upsert ----------------------------------------------------------------------------------


def test_the_first_invocation_creates_the_installation(forge_host):
    inst = forge_host.installation()
    ctx = invocation(forge_host)
    row = record_invocation(ctx)
    assert row.installation_id == inst.id == ctx.installation_id
    assert (row.product, row.cloud_id, row.api_base_url) == (
        "jira",
        inst.cloud_id,
        inst.api_base_url,
    )
    assert row.app_id == forge_host.app_id
    assert row.environment_type == "PRODUCTION"
    assert row.environment_id == forge_host.environment.id
    assert row.site_url == inst.site_url
    assert row.first_seen_at == row.last_seen_at is not None
    assert row.tenant is None and row.link_method == ""
    issued = forge_host.issued[ctx.system_token]
    assert row.system_token == ctx.system_token
    assert row.system_token_expires_at == datetime.fromtimestamp(issued.exp, tz=UTC)
    assert ForgeInstallation.objects.count() == 1


def test_later_invocations_update_the_row_without_rewriting_the_token(forge_host):
    first = record_invocation(invocation(forge_host))
    ciphertext = raw_token_column(first.pk)
    # A trigger: no siteUrl in its FIT, same token (Forge reuses it while fresh).
    ctx = invocation(forge_host, kind="scheduled")
    assert ctx.site_url is None and ctx.system_token == first.system_token
    with CaptureQueriesContext(connection) as queries:
        row = record_invocation(ctx, now=time.time() + 5)
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(writes) == 1 and "system_token" not in writes[0]
    assert raw_token_column(row.pk) == ciphertext  # Fernet is randomised: same text, not rewritten
    assert row.site_url == first.site_url  # kept: the trigger's FIT has none
    assert row.last_seen_at > first.last_seen_at and row.first_seen_at == first.first_seen_at
    assert ForgeInstallation.objects.count() == 1


def test_the_token_is_stored_encrypted_and_shown_as_a_fingerprint_only(forge_host):
    ctx = invocation(forge_host)
    row = record_invocation(ctx)
    raw = raw_token_column(row.pk)
    assert raw and raw != ctx.system_token and ctx.system_token not in raw
    assert crypto.decrypt(raw) == ctx.system_token
    assert row.system_token_fingerprint == crypto.fingerprint(ctx.system_token)
    fresh = ForgeInstallation.objects.get(pk=row.pk)
    for text in (str(fresh), repr(fresh), repr(fresh.system_token)):
        assert ctx.system_token not in text
    assert row.system_token_fingerprint in repr(fresh)


def test_only_a_token_with_a_later_exp_replaces_the_stored_one(forge_host):
    ctx = invocation(forge_host, system_token=False)
    now = time.time()
    newer, older = opaque_token(int(now) + 7200), opaque_token(int(now) + 3600)
    record_invocation(with_token(ctx, newer), now=now)
    # The older token arrives second (a slower request of the same minute): kept out.
    row = record_invocation(with_token(ctx, older), now=now + 1)
    assert row.system_token == newer
    # The same exp again is not "later" either.
    row = record_invocation(with_token(ctx, opaque_token(int(now) + 7200, jti="x")), now=now + 2)
    assert row.system_token == newer
    latest = opaque_token(int(now) + 7201)
    row = record_invocation(with_token(ctx, latest), now=now + 3)
    assert row.system_token == latest
    assert ForgeInstallation.objects.get().system_token == latest


def test_an_invocation_without_the_header_never_clears_the_token(forge_host):
    stored = record_invocation(invocation(forge_host)).system_token
    row = record_invocation(invocation(forge_host, system_token=False))
    assert ForgeInstallation.objects.get(pk=row.pk).system_token == stored
    row = record_invocation(with_token(invocation(forge_host, system_token=False), ""))
    assert ForgeInstallation.objects.get(pk=row.pk).system_token == stored


def test_token_expiry_is_read_without_verifying_with_a_fallback_and_a_cap():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    in_2h = now + timedelta(hours=2)
    assert system_token_expiry(opaque_token(int(in_2h.timestamp())), now=now) == in_2h
    fallback = now + timedelta(minutes=55)
    for token in ("opaque", "a.b.c", "a.!!!.c", opaque_token("soon"), opaque_token(float("nan"))):
        assert system_token_expiry(token, now=now) == fallback
    no_exp = jwt.encode({"sub": "app"}, "k" * 32, algorithm="HS256")
    assert system_token_expiry(no_exp, now=now) == fallback
    # A claimed far future is capped at the longest life a system token has (4 h).
    assert system_token_expiry(opaque_token(10**12), now=now) == now + timedelta(hours=4)
    assert system_token_expiry(opaque_token(-(10**12)), now=now).year == 1970  # expired


def test_an_already_expired_token_is_not_stored(forge_host):
    ctx = with_token(invocation(forge_host, system_token=False), opaque_token(int(time.time()) - 5))
    row = record_invocation(ctx)
    assert row.system_token is None and row.system_token_expires_at is None


def test_get_installation_by_ari_or_bare_uuid(forge_host):
    inst = forge_host.installation()
    row = record_invocation(invocation(forge_host))
    assert get_installation(inst.id) == row
    assert get_installation(inst.uuid) == row
    assert get_installation(ARI + "00000000-0000-4000-8000-000000000000") is None
    assert get_installation("not an id") is None


# -- races ---------------------------------------------------------------------------------------


def run_at_once(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait(timeout=30)
            results.append(call())
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_first_invocations_racing_for_one_installation_all_succeed(forge_host):
    contexts = [invocation(forge_host) for _ in range(6)]
    results, errors = run_at_once([lambda c=c: record_invocation(c) for c in contexts])
    assert errors == []
    assert len(results) == 6 and len({r.pk for r in results}) == 1
    assert ForgeInstallation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_tokens_leave_the_newest_whatever_the_commit_order(forge_host):
    record_invocation(invocation(forge_host, system_token=False))
    ctx = invocation(forge_host, system_token=False)
    base = int(time.time()) + 3600
    tokens = [opaque_token(base + i) for i in range(8)]
    results, errors = run_at_once(
        [lambda t=t: record_invocation(with_token(ctx, t)) for t in tokens]
    )
    assert errors == [] and len(results) == 8
    row = ForgeInstallation.objects.get()
    assert row.system_token == tokens[-1]
    assert row.system_token_expires_at == datetime.fromtimestamp(base + 7, tz=UTC)


def test_the_loser_of_a_create_race_locks_the_winners_row(forge_host, monkeypatch):
    """The INSERT fails on the unique constraint: the row another process created is used."""
    ctx = invocation(forge_host)
    winner = record_invocation(with_token(ctx, None))
    real = ForgeInstallation._default_manager.select_for_update
    calls = []

    class NotYetCommitted:  # the first look happens before the winner commits
        def filter(self, **kwargs):
            return self

        def first(self):
            return None

    def select_for_update(*args, **kwargs):
        calls.append(1)
        return NotYetCommitted() if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(ForgeInstallation._default_manager, "select_for_update", select_for_update)
    row = record_invocation(ctx)
    assert row.pk == winner.pk and len(calls) == 2
    assert row.system_token == ctx.system_token
    assert ForgeInstallation.objects.count() == 1


# -- the stored token ----------------------------------------------------------------------------


def test_stored_system_token_needs_enough_life(forge_host, settings):
    row = record_invocation(invocation(forge_host))
    assert stored_system_token(row) == row.system_token
    left = (row.system_token_expires_at - datetime.now(tz=UTC)).total_seconds()
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row, min_validity=left + 60)
    error = info.value
    assert error.code == "forge_token_expired" and error.installation is row
    assert row.installation_id in error.detail and row.system_token not in str(error)
    assert "nothing was sent" in error.detail
    # FORGE_TOKEN_MARGIN is the default margin.
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_TOKEN_MARGIN": left + 60}
    with pytest.raises(ConnectClientError):
        stored_system_token(row)
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row, now=row.system_token_expires_at.timestamp() + 1)
    assert "expired at" in info.value.detail


def test_stored_system_token_without_any_token(forge_host):
    row = record_invocation(invocation(forge_host, system_token=False))
    with pytest.raises(ConnectClientError) as info:
        stored_system_token(row)
    assert info.value.code == "forge_token_expired"
    assert "no app system token is stored" in info.value.detail


def test_installations_running_out(forge_host):
    soon_inst = forge_host.installation()
    later_inst = forge_host.add_installation("jira")
    never_inst = forge_host.add_installation("confluence")
    now = time.time()
    soon = record_invocation(
        with_token(invocation(forge_host, soon_inst, system_token=False), opaque_token(now + 600))
    )
    record_invocation(
        with_token(invocation(forge_host, later_inst, system_token=False), opaque_token(now + 9000))
    )
    never = record_invocation(invocation(forge_host, never_inst, system_token=False))
    assert list(installations_running_out(within=3600)) == [never, soon]
    assert list(installations_running_out(within=60)) == [never]
    ForgeInstallation.objects.filter(pk=soon.pk).update(superseded_at=datetime.now(tz=UTC))
    assert list(installations_running_out(within=3600)) == [never]


# -- layering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["forge.installations", "forge.linking"])
def test_the_store_imports_nothing_above_it(module):
    graph, _ = build_graph(ROOT, PACKAGE)
    imported = graph[f"{PACKAGE}.{module}"]
    for forbidden in (
        "views",
        "decorators",
        "authentication",
        "permissions",
        "forge.client",
        "forge.views",
        "forge.events",
        "client",
        "lifecycle",
    ):
        assert f"{PACKAGE}.{forbidden}" not in imported, forbidden
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert "rest_framework" not in source
    assert len(source.splitlines()) < 400
