"""What the simulated authorization server knows, and Atlassian's rules for tokens.

One consent is a *family* (a grant): an account, the sites it chose, the
scopes, the consent time. Within it:

- an authorization code is single-use and lives 10 minutes;
- access tokens live ``access_ttl`` seconds (1 hour, as Atlassian's);
- refresh tokens rotate on every refresh. The previous one stays valid for
  :data:`REUSE_WINDOW` (10 minutes) after its rotation: presenting it again
  within the window gets a new pair; after the window it is ``invalid_grant``
  and the whole family is revoked (every access and refresh token of it);
- a refresh token unused for 90 days, or any after 365 days since consent,
  is ``invalid_grant``.

The clock is injectable (``clock``) and can be moved (:meth:`OAuthState.advance`).
Counters say what clients did (``refresh_requests``, ``reused_in_window``,
``reused_after_window``, ...). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REUSE_WINDOW = 600
CODE_LIFETIME = 600
INACTIVITY = 90 * 24 * 3600
ABSOLUTE = 365 * 24 * 3600


def fingerprint(token: str) -> str:
    """A short digest to compare tokens in logs without holding them."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class TokenError(Exception):
    """A refusal of the token endpoint: ``error`` as in RFC 6749 section 5.2."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class Account:
    account_id: str
    name: str
    email: str = ""


@dataclass
class Site:
    cloud_id: str
    url: str
    name: str
    products: tuple[str, ...] = ("jira",)


@dataclass
class Family:
    """One consent (a grant)."""

    id: str
    account: Account
    sites: list[Site]
    scopes: list[str]
    consented_at: float
    redirect_uri: str
    revoked_at: float | None = None
    revoked_reason: str = ""

    @property
    def offline(self) -> bool:
        return "offline_access" in self.scopes


@dataclass
class Issued:
    """An access or refresh token of a family. The token is kept out of ``repr()``."""

    token: str = field(repr=False)
    kind: str  # "access" | "refresh"
    family_id: str
    issued_at: float
    expires_at: float | None = None  # access tokens
    rotated_at: float | None = None  # refresh tokens: when a newer one replaced it

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.token)


class OAuthState:
    """Clients, accounts, sites, families and tokens, behind one lock."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        access_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl = access_ttl
        self.clock = clock
        self.offset = 0.0
        self.accounts: dict[str, Account] = {}
        self.sites: dict[str, Site] = {}
        self.families: dict[str, Family] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Issued] = {}
        self.counters: Counter[str] = Counter()
        self.token_log: list[dict[str, Any]] = []
        self.lock = threading.RLock()

    # -- time ------------------------------------------------------------------

    def now(self) -> float:
        return self.clock() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (access tokens expire, windows close)."""
        with self.lock:
            self.offset += seconds

    # -- who is who --------------------------------------------------------------

    def add_account(self, name: str, email: str = "", account_id: str | None = None) -> Account:
        account = Account(account_id or secrets.token_hex(12), name, email)
        with self.lock:
            self.accounts[account.account_id] = account
        return account

    def add_site(
        self,
        name: str,
        url: str,
        cloud_id: str | None = None,
        products: tuple[str, ...] = ("jira",),
    ) -> Site:
        site = Site(cloud_id or str(uuid.uuid4()), url.rstrip("/"), name, products)
        with self.lock:
            self.sites[site.cloud_id] = site
        return site

    # -- authorize -----------------------------------------------------------------

    def issue_code(self, account: Account, scopes: list[str], redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "account": account,
                "sites": list(self.sites.values()),
                "scopes": scopes,
                "redirect_uri": redirect_uri,
                "at": self.now(),
                "used": False,
            }
        return code

    # -- the token endpoint ----------------------------------------------------------

    def token_request(self, body: Any) -> dict[str, Any]:
        """The answer of ``POST /oauth/token`` for a JSON body, or :class:`TokenError`."""
        with self.lock:
            entry: dict[str, Any] = {"grant_type": None, "error": None, "at": self.now()}
            self.token_log.append(entry)
            try:
                answer = self._token_request(body, entry)
            except TokenError as refusal:
                entry["error"] = refusal.error
                self.counters[refusal.error] += 1
                raise
            entry["access_token"] = fingerprint(answer["access_token"])
            entry["refresh_token_issued"] = (
                fingerprint(answer["refresh_token"]) if "refresh_token" in answer else None
            )
            return answer

    def _token_request(self, body: Any, entry: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise TokenError("invalid_request", "the body must be a JSON object")
        entry["grant_type"] = grant_type = body.get("grant_type")
        if grant_type == "refresh_token":
            self.counters["refresh_requests"] += 1
        if body.get("client_id") != self.client_id or not secrets.compare_digest(
            str(body.get("client_secret") or ""), self.client_secret
        ):
            raise TokenError("access_denied", "Unauthorized: unknown client or wrong secret", 401)
        if grant_type == "authorization_code":
            self.counters["code_exchanges"] += 1
            return self._exchange(body)
        if grant_type == "refresh_token":
            token = str(body.get("refresh_token") or "")
            entry["refresh_token"] = fingerprint(token) if token else None
            return self._refresh(token, entry)
        raise TokenError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        code = self.codes.get(str(body.get("code") or ""))
        if code is None or code["used"] or self.now() - code["at"] > CODE_LIFETIME:
            raise TokenError("invalid_grant", "Invalid authorization code")
        code["used"] = True
        if body.get("redirect_uri") != code["redirect_uri"]:
            raise TokenError("invalid_grant", "redirect_uri does not match the authorization")
        family = Family(
            id=secrets.token_hex(8),
            account=code["account"],
            sites=code["sites"],
            scopes=code["scopes"],
            consented_at=code["at"],
            redirect_uri=code["redirect_uri"],
        )
        self.families[family.id] = family
        return self._pair(family)

    def _refresh(self, token: str, entry: dict[str, Any]) -> dict[str, Any]:
        record = self.tokens.get(token)
        if record is None or record.kind != "refresh":
            raise TokenError("invalid_grant", "Unknown or invalid refresh token.")
        family = self.families[record.family_id]
        now = self.now()
        if family.revoked_at is not None:
            raise TokenError("invalid_grant", "Unknown or invalid refresh token.")
        if record.rotated_at is not None:
            entry["reused"] = True
            if now - record.rotated_at > REUSE_WINDOW:
                self.counters["reused_after_window"] += 1
                self.revoke(family, "a rotated refresh token was reused after the reuse window")
                raise TokenError("invalid_grant", "Unknown or invalid refresh token.")
            self.counters["reused_in_window"] += 1
        if now - record.issued_at > INACTIVITY or now - family.consented_at > ABSOLUTE:
            raise TokenError("invalid_grant", "Unknown or invalid refresh token.")
        for other in self.tokens.values():  # the family's current refresh token rotates
            if other.family_id == family.id and other.kind == "refresh" and not other.rotated_at:
                other.rotated_at = now
        record.rotated_at = record.rotated_at or now
        self.counters["refreshes"] += 1
        return self._pair(family)

    def _pair(self, family: Family) -> dict[str, Any]:
        now = self.now()
        access = Issued(secrets.token_urlsafe(32), "access", family.id, now, now + self.access_ttl)
        self.tokens[access.token] = access
        answer = {
            "access_token": access.token,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
            "scope": " ".join(family.scopes),
        }
        if family.offline:
            refresh = Issued(secrets.token_urlsafe(48), "refresh", family.id, now)
            self.tokens[refresh.token] = refresh
            answer["refresh_token"] = refresh.token
        return answer

    # -- what the API gateway asks ------------------------------------------------------

    def access_family(self, token: str | None) -> tuple[Family | None, str]:
        """The family of a valid access token, or ``(None, why not)``."""
        with self.lock:
            record = self.tokens.get(token or "")
            if record is None or record.kind != "access":
                return None, "this authorization server never issued that access token"
            family = self.families[record.family_id]
            if family.revoked_at is not None:
                return None, f"the grant was revoked ({family.revoked_reason})"
            assert record.expires_at is not None
            if record.expires_at <= self.now():
                return None, "the access token has expired"
            return family, ""

    # -- what a test does -----------------------------------------------------------------

    def revoke(self, family: Family, reason: str = "the user revoked the app's access") -> None:
        """The user removed the app from their account (or a token was reused too late)."""
        with self.lock:
            if family.revoked_at is None:
                family.revoked_at = self.now()
                family.revoked_reason = reason
                self.counters["families_revoked"] += 1

    def expire_access_tokens(self, family: Family | None = None) -> int:
        """The gateway refuses the current access tokens (of ``family``, or all) from now on."""
        count = 0
        with self.lock:
            now = self.now()
            for record in self.tokens.values():
                if record.kind == "access" and (family is None or record.family_id == family.id):
                    if record.expires_at is not None and record.expires_at > now:
                        record.expires_at = now - 1
                        count += 1
        return count

    def families_of(self, account: Account) -> list[Family]:
        with self.lock:
            return [f for f in self.families.values() if f.account.account_id == account.account_id]
