"""OAuth 2.0 (3LO) grants: hand out a fresh access token, refresh it once across
every process, and notice revocation. (Storing a new grant: :mod:`.linking`.)

::

    grant = grant_for(request.user, cloud_id)       # the user's grant for a site
    token = access_token(grant)                     # refreshed first when it runs out

How a refresh stays single (Atlassian rotates refresh tokens: a rotated one
reused more than 10 minutes later revokes the whole grant):

1. An access token is refreshed by its recorded expiry, ``OAUTH_REFRESH_MARGIN``
   seconds before it, never because an API call answered 401/403/404.
2. :func:`refresh` locks the grant's row for the whole refresh (one database
   transaction): ``SELECT ... FOR UPDATE`` on PostgreSQL, MySQL and Oracle; on
   SQLite, which has no row locks, a no-op ``UPDATE`` as the first statement
   takes the database's write lock, waiting for it as ``BEGIN IMMEDIATE``
   would (a transaction that read first would fail at once instead). Every
   other process and thread refreshing the same grant waits there.
3. Inside the lock the row is read again: if another process refreshed while
   we waited, its token is used and no request is made.
4. The new refresh token is written in the same transaction and committed
   before the new access token is handed out. Called inside an outer
   ``atomic()`` block, the commit is the outer block's: if that rolls back,
   the previous refresh token is still stored, and Atlassian accepts it for
   10 more minutes.
5. ``invalid_grant`` marks the grant ``revoked`` (tokens wiped), sends
   :data:`~django_atlassian_connect.signals.oauth_grant_revoked` after the
   commit, and this and every later use raise ``oauth_grant_revoked``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .. import signals
from ..conf import connect_settings
from ..exceptions import ConnectClientError
from ..models import OAuthGrant, OAuthSite
from . import tokens
from .tokens import TokenSet

__all__ = [
    "access_token",
    "grant_for",
    "grant_gone",
    "refresh",
    "sites_of",
    "write_lock",
]

logger = logging.getLogger("django_atlassian_connect")

Status = OAuthGrant.Status
#: ``last_used_at`` is written at most once per this many seconds.
TOUCH_INTERVAL = 60


def write_lock(queryset: QuerySet[OAuthGrant]) -> None:
    """On SQLite, take the database's write lock now (see the module docstring).

    Call it first thing in a transaction that reads, then writes, grants.
    """
    if connections[queryset.db].vendor == "sqlite":
        queryset.update(status=F("status"))


# -- finding a grant ------------------------------------------------------------------------------


def grant_gone(grant: OAuthGrant) -> ConnectClientError:
    """The error for using a grant that is no longer active (not raised here)."""
    code = "oauth_grant_revoked" if grant.status == Status.REVOKED else "oauth_grant_expired"
    account = grant.account_name or grant.account_id or "an Atlassian account"
    since = (
        f" since {grant.status_changed_at:%Y-%m-%d %H:%M:%S} UTC" if grant.status_changed_at else ""
    )
    why = f" ({grant.last_error})" if grant.last_error else ""
    return ConnectClientError(
        code,
        f"The link of user {grant.user_id} to {account} is {grant.status}{since}{why}; "
        "nothing was sent.",
        grant=grant,
        user_id=grant.user_id,
        account_id=grant.account_id,
    )


def grant_for(user: Any, cloud_id: str) -> OAuthGrant:
    """The user's grant for the site ``cloud_id``: an active one first, the newest.

    Raises ``oauth_not_linked`` (no grant at all), ``oauth_site_not_linked`` (no
    grant for this site), or ``oauth_grant_revoked``/``oauth_grant_expired``
    (the site's grants are no longer active).
    """
    sites = list(
        OAuthSite._default_manager.filter(grant__user=user, cloud_id=cloud_id)
        .select_related("grant")
        .order_by("-grant__updated_at")
    )
    grants = [s.grant for s in sites]
    for grant in grants:
        if grant.status == Status.ACTIVE:
            return grant
    if grants:
        raise grant_gone(grants[0])
    user_id = getattr(user, "pk", None)
    if not OAuthGrant._default_manager.filter(user=user).exists():
        raise ConnectClientError(
            "oauth_not_linked",
            f"User {user_id} has not linked an Atlassian account; nothing was sent.",
            user_id=user_id,
            cloud_id=cloud_id,
        )
    raise ConnectClientError(
        "oauth_site_not_linked",
        f"No Atlassian account linked by user {user_id} gave access to site {cloud_id[:64]}; "
        "nothing was sent.",
        user_id=user_id,
        cloud_id=cloud_id,
    )


def sites_of(user: Any) -> QuerySet[OAuthSite]:
    """The sites of the user's active grants."""
    return OAuthSite._default_manager.filter(grant__user=user, grant__status=Status.ACTIVE)


# -- access tokens ----------------------------------------------------------------------------------


def _margin() -> float:
    return float(connect_settings.OAUTH_REFRESH_MARGIN)


def _left(grant: OAuthGrant, now: datetime) -> float:
    """Seconds the stored access token has left (``-inf`` when there is none)."""
    if not grant.access_token or grant.access_expires_at is None:
        return float("-inf")
    return (grant.access_expires_at - now).total_seconds()


def _touch(grant: OAuthGrant, now: datetime) -> None:
    if grant.last_used_at is None or (now - grant.last_used_at).total_seconds() > TOUCH_INTERVAL:
        OAuthGrant._default_manager.filter(pk=grant.pk).update(last_used_at=now)
        grant.last_used_at = now


def access_token(grant: OAuthGrant, *, now: datetime | None = None) -> str:
    """A usable access token of ``grant``, refreshed first when it has less than
    ``OAUTH_REFRESH_MARGIN`` seconds left. Updates ``grant`` in place.

    Raises ``oauth_grant_revoked``/``oauth_grant_expired`` (nothing sent) or
    ``oauth_token_failed`` (the authorization server failed; try again).
    """
    now = now or timezone.now()
    if grant.status != Status.ACTIVE:
        raise grant_gone(grant)
    if _left(grant, now) <= _margin():
        refresh(grant, now=now)
    _touch(grant, now)
    return str(grant.access_token)


def _lapsed(grant: OAuthGrant, now: datetime) -> str | None:
    """Why the grant cannot be refreshed, as far as we know without asking; ``None``: it can."""
    if not grant.refresh_token:
        return "no refresh token: offline_access was not granted"
    ends = grant.refresh_token_expires_at
    if ends is not None and ends <= now:
        past_consent = ends >= grant.consented_at + timedelta(days=365)
        return "365 days since consent" if past_consent else "the refresh token went unused 90 days"
    return None


def _end(grant: OAuthGrant, status: str, reason: str, now: datetime) -> None:
    """Mark the grant ``revoked``/``expired`` and wipe its tokens; the signal after commit."""
    grant.status = status
    grant.access_token = None
    grant.refresh_token = None
    grant.status_changed_at = now
    grant.last_error = reason[:2000]
    grant.save(
        update_fields=[
            "status",
            "access_token",
            "refresh_token",
            "status_changed_at",
            "last_error",
            "updated_at",
        ]
    )
    logger.warning(
        "OAuth 2.0 (3LO) grant %s of user %s (account %s) is %s: %s; the user must link again",
        grant.pk,
        grant.user_id,
        grant.account_id or "(unknown)",
        status,
        reason,
        extra={"connect_code": "oauth_grant_revoked" if status == Status.REVOKED else ""},
    )
    transaction.on_commit(
        lambda: signals.oauth_grant_revoked.send(
            sender=OAuthGrant, grant=grant, user=grant.user, status=status, reason=reason
        ),
        using=grant._state.db,
    )


def _apply(grant: OAuthGrant, token_set: TokenSet, now: datetime) -> None:
    grant.access_token = token_set.access_token
    grant.access_expires_at = now + timedelta(seconds=token_set.expires_in)
    if token_set.refresh_token:
        grant.refresh_token = token_set.refresh_token
    # Issued (rotation) or, without rotation, last used: the 90 days start again either way.
    grant.refresh_token_issued_at = now
    if token_set.scope:
        grant.scopes = token_set.scope
    grant.last_error = ""
    grant.save(
        update_fields=[
            "access_token",
            "access_expires_at",
            "refresh_token",
            "refresh_token_issued_at",
            "scopes",
            "last_error",
            "updated_at",
        ]
    )


def refresh(
    grant: OAuthGrant,
    *,
    force: bool = False,
    min_validity: float | None = None,
    now: datetime | None = None,
) -> OAuthGrant:
    """Refresh ``grant`` under its row lock, unless the stored token (read again inside
    the lock) has more than ``min_validity`` seconds left (default
    ``OAUTH_REFRESH_MARGIN``). ``force``: refresh even then, unless another process
    rotated the refresh token since ``grant`` was read. Updates ``grant`` in place.

    Raises ``oauth_grant_revoked`` (``invalid_grant``: now revoked),
    ``oauth_grant_expired``, ``oauth_not_linked`` (the row is gone) or
    ``oauth_token_failed`` (the grant stays as it was; ``last_error`` says why).
    """
    margin = _margin() if min_validity is None else float(min_validity)
    db = router.db_for_write(OAuthGrant)
    manager = OAuthGrant._default_manager.db_manager(db)
    error: ConnectClientError | None = None
    with transaction.atomic(using=db):
        write_lock(manager.filter(pk=grant.pk))
        row = manager.select_for_update().filter(pk=grant.pk).first()
        when = now or timezone.now()  # after the wait for the lock
        if row is None:
            raise ConnectClientError(
                "oauth_not_linked",
                f"The OAuth 2.0 (3LO) grant {grant.pk} was deleted (disconnected); nothing was sent.",
                user_id=grant.user_id,
            )
        rotated_meanwhile = row.refresh_token != grant.refresh_token
        left = _left(row, when)
        if row.status != Status.ACTIVE:
            error = grant_gone(row)
        elif (not force and left > margin) or (force and rotated_meanwhile and left > 0):
            pass  # fresh enough, or another process just refreshed it: use the stored one
        elif (reason := _lapsed(row, when)) is not None:
            if not row.refresh_token and left > 0:
                pass  # no refresh token: the access token serves until it expires
            else:
                _end(row, Status.EXPIRED, reason, when)
                error = grant_gone(row)
        else:
            try:
                _apply(row, tokens.refresh_tokens(str(row.refresh_token)), when)
                logger.info("OAuth 2.0 (3LO) grant %s refreshed", row.pk)
            except ConnectClientError as exc:
                if exc.code == "oauth_token_failed" and exc.context.get("oauth_error") == (
                    "invalid_grant"
                ):
                    _end(row, Status.REVOKED, f"refresh refused: {exc.detail}", when)
                    error = grant_gone(row)
                else:
                    row.last_error = exc.detail[:2000]
                    row.save(update_fields=["last_error", "updated_at"])
                    error = exc
    for field in OAuthGrant._meta.concrete_fields:
        setattr(grant, field.attname, getattr(row, field.attname))
    if error is not None:
        raise error
    return grant
