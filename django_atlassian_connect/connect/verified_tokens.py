"""Context tokens whose signature this process already checked.

A front end asks ``AP.context.getToken()`` before each call to its back end,
and the product hands out the same context token until it nears expiry: one
token arrives again and again for minutes. Its signature and claims cannot
change, so checking the HMAC and decoding the JSON each time buys nothing
while the tenant's secrets stay the same.

An entry is bound to the tenant snapshot it was verified against
(:mod:`tenant_cache`): a new snapshot (a reinstall, a rotated secret, an
uninstall seen by this process) is a miss, and the token is verified in full
again. A hit still checks the times and the tenant's state. Only tokens signed
with the current secret are kept (a retired secret's grace period ends on its
own clock), and only context tokens: a page token's qsh binds it to one
request, and a page load brings a new one.

Per process, bounded (``VERIFIED_TOKEN_CACHE_SIZE`` entries, oldest out
first; 0 turns it off). Tokens are kept in memory only, never logged.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from django.core.signals import setting_changed

from ..conf import connect_settings
from ..tokens import ParsedToken, VerifiedSecret
from .tenant_cache import TenantSnapshot

__all__ = ["VerifiedToken", "clear", "forget", "lookup", "remember"]


class VerifiedToken(NamedTuple):
    """What a full verification established about one raw token.

    ``parsed.claims`` may have been edited by the view of the request that
    verified it: a hit decodes them again from ``parsed.signing_input``
    (:func:`tokens.with_fresh_claims`), the bytes the signature covers.
    """

    client_key: str
    snapshot: TenantSnapshot
    parsed: ParsedToken
    verified: VerifiedSecret


_entries: dict[str, VerifiedToken] = {}
_lock = threading.Lock()


def lookup(raw: str) -> VerifiedToken | None:
    """The entry for ``raw``, or ``None``: the caller checks it is still current."""
    return _entries.get(raw)


def remember(raw: str, entry: VerifiedToken) -> None:
    """Keep ``entry`` (a context token signed with the current secret)."""
    size = connect_settings.VERIFIED_TOKEN_CACHE_SIZE
    if size <= 0 or entry.verified.retired:
        return
    with _lock:
        # Dicts keep insertion order: the first key is the oldest entry.
        while len(_entries) >= size:
            _entries.pop(next(iter(_entries)), None)
        _entries[raw] = entry


def forget(raw: str) -> None:
    _entries.pop(raw, None)


def clear() -> None:
    """Drop every entry (tests; a setting change)."""
    with _lock:
        _entries.clear()


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ATLASSIAN_CONNECT":
        clear()


setting_changed.connect(_settings_changed)
