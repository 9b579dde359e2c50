"""The refresh_oauth_grants job: access tokens refreshed ahead of use, grants kept alive
before the 90-day limit, revocation noticed; the Celery task, beat entry and command."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_atlassian_connect import maintenance, signals, tasks
from django_atlassian_connect.celery import BEAT_SCHEDULE
from django_atlassian_connect.models import OAuthGrant
from django_atlassian_connect.threelo import housekeeping, linking, tokens

pytestmark = pytest.mark.django_db

ZERO = {"refreshed": 0, "kept_alive": 0, "expired": 0, "revoked": 0, "failed": 0}


def set_fields(grant, **fields):
    OAuthGrant.objects.filter(pk=grant.pk).update(**fields)
    grant.refresh_from_db()


def link_another(oauth_server, django_user_model, name):
    user = django_user_model.objects.create_user(username=name, password=f"{name}-pw-1")
    return linking.link_account(user, oauth_server.issue_code(tokens.callback_url()))


def test_nothing_to_do_when_not_configured(linked_user, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "OAUTH_CLIENT_ID": None}
    assert maintenance.refresh_oauth_grants() == ZERO


def test_fresh_and_idle_grants_are_left_alone(linked_user, oauth_server):
    assert maintenance.refresh_oauth_grants() == ZERO
    grant = linked_user.oauth_grant
    set_fields(  # expiring, but nobody used it for a day: no point refreshing
        grant,
        access_expires_at=timezone.now() + timedelta(seconds=60),
        last_used_at=timezone.now() - timedelta(days=1),
    )
    assert maintenance.refresh_oauth_grants() == ZERO
    assert oauth_server.counters["refresh_requests"] == 0


def test_a_grant_in_use_is_refreshed_before_the_next_run(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    before = grant.refresh_token
    set_fields(grant, access_expires_at=timezone.now() + timedelta(seconds=800))  # < 300 + 600
    assert maintenance.refresh_oauth_grants() == {**ZERO, "refreshed": 1}
    grant.refresh_from_db()
    assert grant.refresh_token != before
    assert (grant.access_expires_at - timezone.now()).total_seconds() > 3500
    assert maintenance.refresh_oauth_grants() == ZERO  # done: nothing due any more


def test_an_old_refresh_token_is_kept_alive(linked_user, oauth_server):
    grant = linked_user.oauth_grant
    set_fields(grant, refresh_token_issued_at=timezone.now() - timedelta(days=31))
    assert maintenance.refresh_oauth_grants() == {**ZERO, "kept_alive": 1}
    grant.refresh_from_db()
    assert (timezone.now() - grant.refresh_token_issued_at).total_seconds() < 60
    assert oauth_server.counters["refresh_requests"] == 1


def test_revoked_expired_and_failing_grants_are_counted(
    linked_user, oauth_server, django_user_model, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs["status"])

    signals.oauth_grant_revoked.connect(receiver)
    revoked = linked_user.oauth_grant
    oauth_server.revoke()
    lapsed = link_another(oauth_server, django_user_model, "lee")
    set_fields(revoked, refresh_token_issued_at=timezone.now() - timedelta(days=40))
    set_fields(lapsed, refresh_token_issued_at=timezone.now() - timedelta(days=91))
    with django_capture_on_commit_callbacks(execute=True):
        counts = maintenance.refresh_oauth_grants()
    assert counts == {**ZERO, "revoked": 1, "expired": 1}
    signals.oauth_grant_revoked.disconnect(receiver)
    assert sorted(received) == ["expired", "revoked"]
    assert set(OAuthGrant.objects.values_list("status", flat=True)) == {"revoked", "expired"}
    assert maintenance.refresh_oauth_grants() == ZERO  # inactive grants are not tried again

    failing = link_another(oauth_server, django_user_model, "max")
    set_fields(failing, refresh_token_issued_at=timezone.now() - timedelta(days=40))
    oauth_server.state.client_secret = "rotated"
    assert maintenance.refresh_oauth_grants() == {**ZERO, "failed": 1}
    failing.refresh_from_db()
    assert failing.status == "active" and failing.last_error


def test_the_task_the_beat_entry_and_the_command(linked_user, oauth_server):
    set_fields(linked_user.oauth_grant, refresh_token_issued_at=timezone.now() - timedelta(days=31))
    assert tasks.refresh_oauth_grants.apply().get() == {**ZERO, "kept_alive": 1}
    entry = BEAT_SCHEDULE["atlassian-connect-refresh-oauth-grants"]
    assert entry == {"task": tasks.refresh_oauth_grants.name, "schedule": 600.0}
    out = StringIO()
    call_command("connect_housekeeping", "refresh_oauth_grants", stdout=out)
    name, result = out.getvalue().strip().split(": ", 1)
    assert name == "refresh_oauth_grants" and json.loads(result) == ZERO


def test_on_a_worker_the_job_fans_out_in_chunks_once_per_grant(
    linked_user, oauth_server, django_user_model, settings, eager_worker
):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HOUSEKEEPING_CHUNK_SIZE": 2}
    old = timezone.now() - timedelta(days=31)
    every = [linked_user.oauth_grant] + [
        link_another(oauth_server, django_user_model, f"user{n}") for n in range(4)
    ]
    for grant in every:
        set_fields(grant, refresh_token_issued_at=old)
    assert housekeeping.due_grant_pks() == sorted(g.pk for g in every)
    assert tasks.refresh_oauth_grants.delay().get() == {"dispatched": 5, "chunks": 3}
    assert {sig.task for sig in eager_worker} == {tasks.refresh_oauth_grants_chunk.name}
    assert oauth_server.counters["refresh_requests"] == 5  # each grant once
    # A chunk run again (a retry, a second beat) finds nothing due any more.
    again = tasks.refresh_oauth_grants_chunk.apply(args=[[str(g.pk) for g in every]]).get()
    assert again == ZERO and oauth_server.counters["refresh_requests"] == 5
