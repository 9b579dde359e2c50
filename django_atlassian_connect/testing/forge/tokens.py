"""The OAuth access tokens the gateway issues and accepts (spec §4).

Three kinds: ``system`` (the app's bot in one installation), ``user`` (one
account in one installation, as ``x-forge-oauth-user`` carries it) and
``offline`` (from the ``offlineUserAuthToken`` mutation). Each is a JWT whose
only meaningful claim for an app is ``exp`` (the tokens are opaque, §4.1);
the gateway trusts its own record, not the token, so a token it never issued
is refused however well-formed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

SYSTEM, USER, OFFLINE = "system", "user", "offline"
KINDS = (SYSTEM, USER, OFFLINE)


@dataclass
class IssuedToken:
    """One issued token and what it stands for. The token is kept out of ``repr()``."""

    token: str = field(repr=False)
    kind: str
    installation_id: str
    account_id: str | None  # None for a system token: it acts as the app
    issued_at: float
    exp: int  # the claim inside the token
    expires_at: float  # when the gateway stops accepting it (earlier once expired by a test)
    #: offline tokens: the ``contextIds`` item the mutation accepted (which ARI form)
    context_id: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short digest to compare tokens in logs without holding the token."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:12]

    def remaining(self, now: float) -> float:
        return self.expires_at - now


class TokenIssuer:
    """Issues tokens, looks them up, hands out the current one like Forge does.

    Forge caches a token and sends the same one on many invocations until it
    nears expiry (§4.2): :meth:`handout` reuses the latest token of a kind
    while it has at least ``min_validity`` left (for system tokens 2/3 of the
    lifetime, i.e. 2 h of the default 3 h: the documented guarantee), then
    issues one with a later ``exp``.
    """

    def __init__(
        self,
        *,
        system_ttl: int = 3 * 3600,
        user_ttl: int = 3600,
        offline_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = {SYSTEM: system_ttl, USER: user_ttl, OFFLINE: offline_ttl}
        self.clock = clock
        self.issued: dict[str, IssuedToken] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def issue(
        self,
        kind: str,
        installation_id: str,
        account_id: str | None = None,
        ttl: int | None = None,
        *,
        context_id: str | None = None,
    ) -> IssuedToken:
        if kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}, not {kind!r}")
        if (kind == SYSTEM) != (account_id is None):
            raise ValueError("a system token has no account; user and offline tokens need one")
        with self._lock:
            now = self.clock()
            previous = self._latest(kind, installation_id, account_id)
            exp = int(now) + (self.ttl[kind] if ttl is None else ttl)
            if previous is not None:
                # Strictly later than its predecessor, even within one second: an app
                # keeps the stored token unless the new exp is later (§4.4).
                exp = max(exp, previous.exp + 1)
            payload = {
                "iss": "simulated-forge-gateway",
                "sub": account_id or "app",
                "iat": int(now),
                "exp": exp,
                "jti": secrets.token_hex(16),
            }
            token = jwt.encode(payload, self._secret, algorithm="HS256")
            record = IssuedToken(
                token, kind, installation_id, account_id, now, exp, float(exp), context_id
            )
            self.issued[token] = record
            return record

    def lookup(self, token: str) -> IssuedToken | None:
        return self.issued.get(token)

    def latest(
        self, kind: str, installation_id: str, account_id: str | None = None
    ) -> IssuedToken | None:
        with self._lock:
            return self._latest(kind, installation_id, account_id)

    def handout(
        self, kind: str, installation_id: str, account_id: str | None = None
    ) -> IssuedToken:
        """The token Forge would attach now: the latest while fresh enough, else a new one."""
        latest = self.latest(kind, installation_id, account_id)
        min_validity = self.ttl[kind] * (2 / 3 if kind == SYSTEM else 1 / 2)
        if latest is not None and latest.remaining(self.clock()) >= min_validity:
            return latest
        return self.issue(kind, installation_id, account_id)

    def expire(self, record: IssuedToken) -> None:
        """The gateway refuses ``record`` from now on (its ``exp`` claim stays as it was)."""
        record.expires_at = self.clock() - 1

    def _latest(
        self, kind: str, installation_id: str, account_id: str | None
    ) -> IssuedToken | None:
        found = None
        for record in self.issued.values():  # insertion order: the last match is the newest
            if (record.kind, record.installation_id, record.account_id) == (
                kind,
                installation_id,
                account_id,
            ):
                found = record
        return found
