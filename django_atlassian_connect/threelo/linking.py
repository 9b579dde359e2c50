"""Storing a user's new grant: the callback's code exchange, sites and account.

::

    grant = link_account(request.user, code)   # exchange, accessible-resources, /me, store
    disconnect(request.user)                     # forget the user's grants

Nothing is stored unless every step succeeded. A new consent for an account
the user linked before renews that grant (``active`` again, new tokens, new
consent time) and replaces its sites.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from ..models import OAuthGrant, OAuthSite
from . import resources, tokens
from .grants import write_lock
from .resources import Account, Site
from .tokens import TokenSet

__all__ = ["disconnect", "link_account", "store_grant"]

logger = logging.getLogger("django_atlassian_connect")

Status = OAuthGrant.Status


def link_account(user: Any, code: str, *, redirect_uri: str | None = None) -> OAuthGrant:
    """The callback's work: exchange ``code``, read the sites and the account, store.

    Nothing is stored unless every step succeeded. Raises ``oauth_token_failed``,
    ``oauth_not_configured`` or ``ConnectAPIError``.
    """
    token_set = tokens.exchange_code(code, redirect_uri or tokens.callback_url())
    sites = resources.fetch_sites(token_set.access_token)
    account = resources.fetch_account(token_set.access_token)
    return store_grant(user, token_set, sites, account)


def store_grant(
    user: Any,
    token_set: TokenSet,
    sites: list[Site],
    account: Account | None = None,
    *,
    now: datetime | None = None,
) -> OAuthGrant:
    """Create or renew the grant of (``user``, account) and replace its sites.

    A new consent makes the grant ``active`` again, whatever it was.
    """
    now = now or timezone.now()
    account_id = account.account_id if account else ""
    fields: dict[str, Any] = {
        "account_name": account.name if account else "",
        "scopes": token_set.scope or " ".join(tokens.requested_scopes()),
        "access_token": token_set.access_token,
        "refresh_token": token_set.refresh_token,
        "access_expires_at": now + timedelta(seconds=token_set.expires_in),
        "refresh_token_issued_at": now if token_set.refresh_token else None,
        "consented_at": now,
        "last_used_at": now,
        "status": Status.ACTIVE,
        "status_changed_at": now,
        "last_error": "",
    }
    db = router.db_for_write(OAuthGrant)
    manager = OAuthGrant._default_manager.db_manager(db)
    lookup = {"user": user, "account_id": account_id}
    with transaction.atomic(using=db):
        write_lock(manager.filter(**lookup))
        grant = manager.select_for_update().filter(**lookup).first()
        if grant is None:
            try:
                with transaction.atomic(using=db):
                    grant = manager.create(**lookup, **fields)
            except IntegrityError:  # a second callback for the same account, just now
                grant = manager.select_for_update().get(**lookup)
        for name, value in fields.items():
            setattr(grant, name, value)
        grant.save()
        _store_sites(grant, sites)
    logger.info(
        "OAuth 2.0 (3LO) grant %s: user %s linked account %s (%d site(s), refresh token %s)",
        grant.pk,
        grant.user_id,
        account_id or "(unknown)",
        len(sites),
        "yes" if token_set.refresh_token else "NO: offline_access not granted",
    )
    return grant


def _store_sites(grant: OAuthGrant, sites: list[Site]) -> None:
    grant.sites.exclude(cloud_id__in=[s.cloud_id for s in sites]).delete()
    for site in sites:
        tenant, installation = resources.site_links(site.cloud_id)
        fields: dict[str, Any] = {
            "url": site.url,
            "name": site.name,
            "scopes": " ".join(site.scopes),
            "tenant": tenant,  # the tenant model in use (swappable)
            "forge_installation": installation,
        }
        OAuthSite._default_manager.update_or_create(
            grant=grant, cloud_id=site.cloud_id, defaults=fields
        )


def disconnect(user: Any, *, account_id: str | None = None) -> int:
    """Forget the user's grants (one account's when ``account_id`` is given): tokens and
    sites are deleted. Atlassian keeps the consent until the user removes the app from
    their account's connected apps. Returns the number of grants deleted."""
    grants = OAuthGrant._default_manager.filter(user=user)
    if account_id is not None:
        grants = grants.filter(account_id=account_id)
    count = 0
    for grant in grants:
        grant.delete()
        count += 1
        logger.info("OAuth 2.0 (3LO) grant %s of user %s disconnected", grant.pk, grant.user_id)
    return count
