"""The ``contextIds`` of the ``offlineUserAuthToken`` mutation, and which form a site takes.

Atlassian documents ``contextIds`` as "the context ARI of the installation"
without naming its form, and two are in use:

- ``"site"``: ``ari:cloud:<product>::site/<cloudId>`` (the lifecycle event's
  ``context``; what the spec and the first implementations send);
- ``"workspace"``: ``ari:cloud:<product>:<cloudId>:workspace/<cloudId>``
  (what Atlassian staff told a developer whose site form was refused, on the
  developer community, "How to use Forge offline user impersonation from
  Remote"; the workspace id given as the cloudId).

A form the gateway does not take for a site is answered, inside HTTP 200,
"Could not load permissions for app user in the provided contextIds of [...]"
(the same words as a manifest without ``allowImpersonation``). So
:func:`forms_to_try` puts the form that worked for the installation last time
(else ``FORGE_CONTEXT_ARI_FORM``) first and the other second, and
:func:`remember` keeps the one that worked after a fallback, per
installation, in the Forge cache (``FORGE_JWKS_CACHE_ALIAS``): every process
learns it, and no migration is needed. A cache that fails only costs the
fallback again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured

from ..conf import connect_settings

__all__ = [
    "FORMS",
    "configured_form",
    "context_ari",
    "forget",
    "forms_to_try",
    "is_permissions_refusal",
    "remember",
    "split_context_ari",
]

logger = logging.getLogger("django_atlassian_connect")

SITE, WORKSPACE = "site", "workspace"
FORMS = (SITE, WORKSPACE)
#: Days a learnt form is kept (renewed by the next fallback that needs it).
REMEMBER_FOR = 30 * 24 * 3600
_PREFIX = "atlassian_connect:forge_context_form:"
_SITE_ARI = re.compile(r"ari:cloud:(?P<product>[a-z]+)::site/(?P<cloud>[0-9A-Za-z-]{1,64})")
_WORKSPACE_ARI = re.compile(
    r"ari:cloud:(?P<product>[a-z]+):(?P<cloud>[0-9A-Za-z-]{1,64}):workspace/[0-9A-Za-z-]{1,64}"
)
# The gateway's words when it cannot load the app's impersonation permissions.
_REFUSAL = re.compile(r"could not load permissions", re.IGNORECASE)


def configured_form() -> str:
    """``FORGE_CONTEXT_ARI_FORM``: ``"site"`` or ``"workspace"``."""
    value = connect_settings.FORGE_CONTEXT_ARI_FORM
    if value not in FORMS:
        raise ImproperlyConfigured(
            f'ATLASSIAN_CONNECT["FORGE_CONTEXT_ARI_FORM"] is "site" or "workspace", not {value!r}.'
        )
    return str(value)


def context_ari(form: str, product: str, cloud_id: str) -> str:
    """The ``contextIds`` item of ``form`` for a Jira or Confluence site."""
    if form == WORKSPACE:
        return f"ari:cloud:{product}:{cloud_id}:workspace/{cloud_id}"
    return f"ari:cloud:{product}::site/{cloud_id}"


def split_context_ari(value: str) -> tuple[str, str] | None:
    """``(product, cloudId)`` of a site or workspace ARI; ``None`` for any other ARI."""
    found = _SITE_ARI.fullmatch(value) or _WORKSPACE_ARI.fullmatch(value)
    return (found["product"], found["cloud"]) if found else None


def _key(installation_id: str) -> str:
    return _PREFIX + hashlib.sha256(installation_id.encode("utf-8")).hexdigest()


def _cache() -> BaseCache:
    return caches[connect_settings.FORGE_JWKS_CACHE_ALIAS]


def remembered(installation_id: str) -> str | None:
    """The form that worked for the installation after a fallback, if one did."""
    try:
        value = _cache().get(_key(installation_id))
    except Exception as exc:  # an outage costs a fallback, never the call
        logger.warning("forge context form cache unavailable (%s)", type(exc).__name__)
        return None
    return value if value in FORMS else None


def forms_to_try(installation_id: str) -> list[str]:
    """Both forms, the one to send first first: learnt for the installation, else configured."""
    first = remembered(installation_id) or configured_form()
    return [first, *(form for form in FORMS if form != first)]


def remember(installation_id: str, form: str) -> None:
    """Keep ``form`` as the one this installation's gateway takes."""
    try:
        _cache().set(_key(installation_id), form, REMEMBER_FOR)
    except Exception as exc:
        logger.warning("forge context form cache unavailable (%s)", type(exc).__name__)


def forget(installation_id: str) -> None:
    """Drop what was learnt (tests; a reinstall gets a new installation id anyway)."""
    try:
        _cache().delete(_key(installation_id))
    except Exception as exc:
        logger.warning("forge context form cache unavailable (%s)", type(exc).__name__)


def is_permissions_refusal(messages: Iterable[str]) -> bool:
    """The gateway's "Could not load permissions ... contextIds" answer is among ``messages``."""
    return any(_REFUSAL.search(str(message)) for message in messages)
