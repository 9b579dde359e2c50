"""Keeping OAuth 2.0 (3LO) grants alive: the ``refresh_oauth_grants`` job.

Run by the Celery task ``django_atlassian_connect.refresh_oauth_grants`` (every
10 minutes in :data:`~django_atlassian_connect.celery.BEAT_SCHEDULE`; on a
worker it fans out, one ``refresh_oauth_grants_chunk`` task per
``HOUSEKEEPING_CHUNK_SIZE`` grants, as the other per-item jobs do) and by
``manage.py connect_housekeeping refresh_oauth_grants`` (the plain loop over
the same chunks). Each refresh goes through :func:`~.grants.refresh`, under
the grant's row lock, with the row read again inside it: a chunk retried, two
beats, and web requests never refresh one grant twice, so no cache claim is
needed on top (the job is a :class:`~django_atlassian_connect.housekeeping.jobs.ChunkedJob`
without claims).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..housekeeping.jobs import ChunkedJob
from ..models import OAuthGrant
from ..models.threelo import CONSENT_LIFETIME
from . import grants

__all__ = [
    "HOUSEKEEPING_INTERVAL",
    "RECENT_USE",
    "REFRESH_OAUTH_GRANTS",
    "due_grant_pks",
    "refresh_oauth_grant_batch",
    "refresh_oauth_grants",
]

logger = logging.getLogger("django_atlassian_connect")

#: How often the beat schedule runs the job (s): tokens expiring before the next run are due.
HOUSEKEEPING_INTERVAL = 600
#: Grants used within this time get their access token refreshed ahead of use.
RECENT_USE = timedelta(hours=1)
OUTCOMES = ("refreshed", "kept_alive", "expired", "revoked", "failed")


def _configured() -> bool:
    return bool(connect_settings.OAUTH_CLIENT_ID and connect_settings.OAUTH_CLIENT_SECRET)


def _window() -> float:
    return float(connect_settings.OAUTH_REFRESH_MARGIN) + HOUSEKEEPING_INTERVAL


def _keepalive_before(now: datetime) -> datetime:
    return now - timedelta(seconds=float(connect_settings.OAUTH_KEEPALIVE_AFTER))


def _due(now: datetime) -> QuerySet[OAuthGrant]:
    """Active grants to refresh (or to find lapsed) in a run at ``now``."""
    return OAuthGrant._default_manager.filter(status=OAuthGrant.Status.ACTIVE).filter(
        Q(refresh_token_issued_at__lt=_keepalive_before(now))
        | Q(
            last_used_at__gte=now - RECENT_USE,
            access_expires_at__lt=now + timedelta(seconds=_window()),
        )
        | Q(refresh_token__isnull=True, access_expires_at__lt=now)
        | Q(consented_at__lt=now - CONSENT_LIFETIME)
    )


def due_grant_pks(*, now: datetime | None = None) -> list[Any]:
    """The grants a run at ``now`` refreshes, soonest expiry first ([] when 3LO is off)."""
    if not _configured():
        return []
    rows = _due(now or timezone.now()).order_by("access_expires_at", "pk")
    return list(rows.values_list("pk", flat=True))


def _still_due(pks: list[Any], *, now: datetime) -> Any:
    if not _configured():
        return []
    return _due(now).filter(pk__in=pks).order_by("pk")


def _refresh_one(grant: OAuthGrant, *, now: datetime) -> str | None:
    """The grant's outcome; ``None`` when the row lock showed another run had refreshed it."""
    keepalive = (
        grant.refresh_token_issued_at is not None
        and grant.refresh_token_issued_at < _keepalive_before(now)
    )
    before = grant.refresh_token
    try:
        grants.refresh(grant, force=keepalive, min_validity=_window(), now=now)
    except ConnectClientError as exc:
        ended = {"oauth_grant_revoked": "revoked", "oauth_grant_expired": "expired"}
        if exc.code not in ended:
            logger.warning(
                "could not refresh OAuth 2.0 (3LO) grant %s: %s (%s)",
                grant.pk,
                exc.code,
                exc.detail,
            )
        return ended.get(exc.code, "failed")
    if grant.refresh_token != before:
        return "kept_alive" if keepalive else "refreshed"
    return None


#: The job behind :func:`refresh_oauth_grants`. No cache claim: :func:`~.grants.refresh`
#: takes the grant's row lock and reads the row again under it, which also keeps out the
#: web requests that refresh a grant (a claim would not), so nothing is ever ``skipped``.
REFRESH_OAUTH_GRANTS = ChunkedJob(
    name="refresh_oauth_grant",
    due_pks=due_grant_pks,
    still_due=_still_due,
    run_one=_refresh_one,
    outcomes=OUTCOMES,
    claims=False,
    describe=lambda grant: f"OAuth 2.0 (3LO) grant {grant.pk}",
)


def refresh_oauth_grant_batch(pks: Iterable[Any], *, now: datetime | None = None) -> dict[str, int]:
    """Refresh the grants ``pks`` that are still due; counts per outcome.

    What one Celery chunk task does (and the plain loop, chunk after chunk).
    The rows are read after the chunk starts, and each again under its lock.
    One grant that fails is counted as ``failed``; the batch goes on.
    """
    return REFRESH_OAUTH_GRANTS.batch(pks, now=now)


def refresh_oauth_grants(*, now: datetime | None = None) -> dict[str, int]:
    """Refresh the grants that need it, chunk after chunk; counts per outcome.

    - ``refreshed``: active grants used within the last hour whose access token
      runs out before the next run (``OAUTH_REFRESH_MARGIN`` + 10 minutes), so
      requests rarely wait for a refresh;
    - ``kept_alive``: active grants whose refresh token is older than
      ``OAUTH_KEEPALIVE_AFTER`` (30 days): refreshed so that it never reaches
      Atlassian's 90-day inactivity limit;
    - ``expired``: grants past a limit we know of (no refresh token and the
      access token gone, 90 days unused, 365 days after consent);
    - ``revoked``: Atlassian answered ``invalid_grant``;
    - ``failed``: the authorization server failed (tried again next run).

    Without ``OAUTH_CLIENT_ID`` and ``OAUTH_CLIENT_SECRET`` nothing is done.
    """
    return REFRESH_OAUTH_GRANTS.run(now=now)
