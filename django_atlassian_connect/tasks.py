"""Celery tasks: thin wrappers over :mod:`maintenance` and the doors' housekeeping.

Celery is optional (``pip install django-atlassian-connect[celery]``). Without
it this module still imports: each task is the plain function with ``delay()``
and ``apply_async()`` that run it at once, so code that schedules tasks keeps
working.

The per-item jobs (``verify_installations``, ``refresh_access_tokens``,
``refresh_oauth_grants``) fan out when a worker runs them: one ``..._chunk``
task per ``HOUSEKEEPING_CHUNK_SIZE`` items, in a Celery group, so every worker
takes part; each item is claimed (:mod:`.housekeeping.claims`; a 3LO grant
by its row lock) and checked to be still due before any work, so two beats, a
retried chunk or a manual run never do it twice. The rules are written once,
in :class:`~.housekeeping.jobs.ChunkedJob`.
Without Celery, in eager mode, or called directly or with ``apply()``, the
same job runs as the plain loop and answers its counts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import maintenance
from .connect import housekeeping as connect_housekeeping
from .housekeeping.claims import chunks as cut
from .housekeeping.jobs import ChunkedJob
from .threelo import housekeeping as threelo_housekeeping

try:
    from celery import current_app, current_task, group, shared_task

    HAVE_CELERY = True
except ImportError:  # pragma: no cover - exercised by the "base" tox env
    HAVE_CELERY = False

    def shared_task(*args: Any, **kwargs: Any) -> Any:
        def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
            func.delay = func  # type: ignore[attr-defined]
            func.apply_async = lambda args=(), kwargs=None, **_: func(*args, **(kwargs or {}))  # type: ignore[attr-defined]
            return func

        if args and callable(args[0]):
            return wrap(args[0])
        return wrap


def _runs_inline() -> bool:
    """Whether a fanning job runs its chunks here, one after the other: no Celery,
    eager mode, or the task was called directly or with ``apply()``."""
    if not HAVE_CELERY or current_app.conf.task_always_eager or not current_task:
        return True
    request = current_task.request
    return bool(request.called_directly or request.is_eager)


def _fan_out(job: ChunkedJob, chunk_task: Any, **params: Any) -> dict[str, int]:
    """One ``chunk_task(pks, now, *params)`` per chunk of ``job``'s due items, in one group."""
    now = timezone.now()
    pks = job.due(now=now, **params)
    chunks = [[str(pk) for pk in chunk] for chunk in cut(pks)]
    if chunks:
        extra = tuple(params.values())
        group(chunk_task.s(chunk, now.timestamp(), *extra) for chunk in chunks).apply_async()
    job.tidy_up(now)
    return {"dispatched": len(pks), "chunks": len(chunks)}


def _moment(timestamp: float | None) -> datetime | None:
    """A run's start, sent to its chunks as seconds since the epoch."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


@shared_task(name="django_atlassian_connect.refresh_access_tokens", ignore_result=False)
def refresh_access_tokens() -> dict[str, int]:
    """Renew impersonation tokens used recently that expire soon.

    On a worker: ``refresh_access_tokens_chunk`` tasks, ``{"dispatched", "chunks"}``.
    """
    if _runs_inline():
        return maintenance.refresh_access_tokens()
    return _fan_out(connect_housekeeping.REFRESH_ACCESS_TOKENS, refresh_access_tokens_chunk)


@shared_task(name="django_atlassian_connect.refresh_access_tokens_chunk", ignore_result=False)
def refresh_access_tokens_chunk(pks: list[str], now: float | None = None) -> dict[str, int]:
    """Renew one chunk of impersonation tokens (those still due)."""
    return connect_housekeeping.refresh_access_token_batch(pks, now=_moment(now))


@shared_task(name="django_atlassian_connect.purge_retired_secrets", ignore_result=False)
def purge_retired_secrets() -> int:
    """Drop the material of secrets retired longer than SECRET_RETENTION ago."""
    return maintenance.purge_retired_secrets()


@shared_task(name="django_atlassian_connect.purge_seen_tokens", ignore_result=False)
def purge_seen_tokens() -> int:
    """Forget expired signed lifecycle tokens kept to refuse replays."""
    return maintenance.purge_seen_tokens()


@shared_task(name="django_atlassian_connect.verify_installations", ignore_result=False)
def verify_installations(min_age: float = 0) -> dict[str, Any]:
    """One signed call per installation; a 401 marks its secret as suspect.

    On a worker: ``verify_installations_chunk`` tasks, ``{"dispatched", "chunks"}``.
    ``min_age`` (seconds): also skip installations verified that recently.
    """
    if _runs_inline():
        return maintenance.verify_installations(min_age=min_age)
    return _fan_out(maintenance.VERIFY_INSTALLATIONS, verify_installations_chunk, min_age=min_age)


@shared_task(name="django_atlassian_connect.verify_installations_chunk", ignore_result=False)
def verify_installations_chunk(
    pks: list[str], started_at: float | None = None, min_age: float = 0
) -> dict[str, int]:
    """Verify one chunk of installations (those still due)."""
    return maintenance.verify_installations_batch(
        pks, started_at=_moment(started_at), min_age=min_age
    )


@shared_task(name="django_atlassian_connect.report_forge_tokens", ignore_result=False)
def report_forge_tokens() -> dict[str, int]:
    """Warn about Forge installations whose stored system token runs out before the next trigger."""
    return maintenance.report_forge_tokens()


@shared_task(name="django_atlassian_connect.report_silent_forge_installations", ignore_result=False)
def report_silent_forge_installations(hours: float | None = None) -> dict[str, int]:
    """Warn about current Forge installations with no invocation for FORGE_SILENT_AFTER_HOURS."""
    return maintenance.report_silent_forge_installations(hours)


@shared_task(name="django_atlassian_connect.refresh_oauth_grants", ignore_result=False)
def refresh_oauth_grants() -> dict[str, int]:
    """Refresh OAuth 2.0 (3LO) grants about to expire; keep unused ones alive (90-day limit).

    On a worker: ``refresh_oauth_grants_chunk`` tasks, ``{"dispatched", "chunks"}``.
    """
    if _runs_inline():
        return maintenance.refresh_oauth_grants()
    return _fan_out(threelo_housekeeping.REFRESH_OAUTH_GRANTS, refresh_oauth_grants_chunk)


@shared_task(name="django_atlassian_connect.refresh_oauth_grants_chunk", ignore_result=False)
def refresh_oauth_grants_chunk(pks: list[str], now: float | None = None) -> dict[str, int]:
    """Refresh one chunk of OAuth 2.0 (3LO) grants (those still due)."""
    return threelo_housekeeping.refresh_oauth_grant_batch(pks, now=_moment(now))
