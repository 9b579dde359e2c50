"""One request of each kind the soak sends, and the answer it should get.

Each action runs with its site's lock held, so the answer it should get
follows from the site's state when it was sent: a page, a context-token API
call or a webhook of an installed site is 200, of an uninstalled site 401
``tenant_uninstalled``; a Forge invocation is 200, a Forge lifecycle event
and every signed lifecycle delivery 2xx. Anything else is not what the
answer should be (during an outage, a 503 with ``Retry-After`` is allowed:
the figures say so).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from benchmarks.soak.sites import ACCOUNT, TIMEOUT, InstallKeys, SoakSite
from django_atlassian_connect.testing.forge import ForgePlatform

#: Kinds of request and their share of the traffic. "lifecycle" is one of the
#: signed deliveries below, chosen by the site's state.
MIX = {"page": 30, "api": 30, "webhook": 16, "forge_invoke": 10, "forge_event": 3, "lifecycle": 11}
#: Signed lifecycle deliveries (``installed`` / ``uninstalled``).
LIFECYCLE = ("install", "rotate", "uninstall", "reinstall")
#: Deliveries that must be applied or refused, never left in between.
DELIVERIES = (*LIFECYCLE, "forge_event")


@dataclass(frozen=True)
class Answer:
    """What the app answered one request."""

    kind: str
    site: int
    at: float  # seconds since the run began, when the request was sent
    seconds: float  # until the answer (or the failure) came
    status: int  # 0: no answer (connection refused or reset, timeout)
    expected: bool  # the answer the site's state calls for
    code: str = ""  # the body's "code", or the client's exception for status 0
    retry_after: bool = False

    @property
    def ended(self) -> float:
        return self.at + self.seconds


def _code(response: requests.Response) -> str:
    if "json" not in response.headers.get("Content-Type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


#: Seconds after a lifecycle change within which a worker may still answer the old state
#: (TENANT_CACHE_REVALIDATE, 1 s, plus a second of margin).
STALENESS_BOUND = 2.0


def _is_2xx(response: requests.Response, code: str) -> bool:
    return 200 <= response.status_code < 300


class Traffic:
    """The requests of the soak, against the app at ``url``."""

    def __init__(self, url: str, forge: ForgePlatform, keys: InstallKeys, began: float) -> None:
        self.url = url
        self.forge = forge
        self.keys = keys
        self.began = began
        self.forge_user = forge.add_account("Soak User", "soak@example.com").account_id
        self.descriptor_url = url + "/atlassian-connect.json"

    def act(self, site: SoakSite, rng: random.Random) -> Answer:
        """One request for ``site`` (its lock held), of a kind drawn from :data:`MIX`."""
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind.startswith("forge") and site.forge is None:
            kind = "page"
        if kind == "lifecycle":
            if not site.installed:
                kind = "reinstall"
            else:
                kind = rng.choices(("install", "rotate", "uninstall"), weights=(2, 5, 3))[0]
        return getattr(self, kind)(site, rng)

    def _timed(
        self,
        kind: str,
        site: SoakSite,
        call: Callable[[], Any],
        check: Callable[[requests.Response, str], bool],
    ) -> Answer:
        sent = time.monotonic()
        try:
            response = call()
        except requests.RequestException as exc:
            seconds = time.monotonic() - sent
            return Answer(
                kind, site.number, sent - self.began, seconds, 0, False, type(exc).__name__
            )
        seconds = time.monotonic() - sent
        code = _code(response)
        try:
            expected = check(response, code)
        except (ValueError, KeyError, TypeError):  # a 200 without the JSON it should have
            expected = False
        return Answer(
            kind,
            site.number,
            sent - self.began,
            seconds,
            response.status_code,
            expected,
            code,
            "Retry-After" in response.headers,
        )

    @staticmethod
    def _connect_check(site: SoakSite) -> Callable[[requests.Response, str], bool]:
        installed = site.installed
        # Each worker trusts its copy of a tenant for TENANT_CACHE_REVALIDATE (1 s) before
        # reading the shared version key: right after an uninstall, another worker may
        # still accept the site's tokens. Within that bound (plus a second of margin)
        # either answer is right; after it, only the new one.
        settling = time.monotonic() - site.changed_at < STALENESS_BOUND

        def check(response: requests.Response, code: str) -> bool:
            uninstalled = response.status_code == 401 and code == "tenant_uninstalled"
            if installed:
                return response.status_code == 200 or (settling and uninstalled)
            return uninstalled or (settling and response.status_code == 200)

        return check

    # -- what the product sends -------------------------------------------------------

    def page(self, site: SoakSite, rng: random.Random) -> Answer:
        url = site.page_url("hello", account_id=ACCOUNT)
        return self._timed(
            "page", site, lambda: requests.get(url, timeout=TIMEOUT), self._connect_check(site)
        )

    def api(self, site: SoakSite, rng: random.Random) -> Answer:
        headers = {"Authorization": f"JWT {site.context_token(ACCOUNT)}"}
        check = self._connect_check(site)

        def me_check(response: requests.Response, code: str) -> bool:
            if not check(response, code):
                return False
            return response.status_code != 200 or response.json()["clientKey"] == site.client_key

        return self._timed(
            "api",
            site,
            lambda: requests.get(self.url + "/api/me", headers=headers, timeout=TIMEOUT),
            me_check,
        )

    def webhook(self, site: SoakSite, rng: random.Random) -> Answer:
        issue = {"issue": {"key": f"SOAK-{rng.randrange(100000)}"}}
        return self._timed(
            "webhook",
            site,
            lambda: site.send_webhook("jira:issue_created", issue, expect=None),
            self._connect_check(site),
        )

    # -- what Forge sends -------------------------------------------------------------

    def forge_invoke(self, site: SoakSite, rng: random.Random) -> Answer:
        installation = site.forge
        assert installation is not None  # act() sends Forge calls for Forge sites only

        def check(response: requests.Response, code: str) -> bool:
            return response.status_code == 200 and (
                response.json()["installationId"] == installation.id
            )

        return self._timed(
            "forge_invoke",
            site,
            lambda: self.forge.invoke(
                "/forge/me", "GET", installation=installation, account_id=self.forge_user
            ),
            check,
        )

    def forge_event(self, site: SoakSite, rng: random.Random) -> Answer:
        def deliver() -> requests.Response:
            (attempt,) = self.forge.deliver_lifecycle(
                "avi:forge:upgraded:app", site.forge, retries=0
            )
            if attempt.response is None:
                raise requests.ConnectionError(attempt.error or "no answer")
            return attempt.response

        return self._timed("forge_event", site, deliver, _is_2xx)

    # -- signed lifecycle deliveries ----------------------------------------------------

    def _deliver(self, kind: str, site: SoakSite, event: str, call: Callable[[], Any]) -> Answer:
        site.key = self.keys.current
        answer = self._timed(kind, site, call, _is_2xx)
        if 200 <= answer.status < 300:
            site.applied[event] += 1
            site.changed_at = time.monotonic()
        return answer

    def install(self, site: SoakSite, rng: random.Random) -> Answer:
        """``installed`` with the current secret (an upgrade, or a first install)."""
        descriptor = self.descriptor_url if site.descriptor is None else None
        return self._deliver(
            "install", site, "installed", lambda: site.install(descriptor, expect=None)
        )

    def rotate(self, site: SoakSite, rng: random.Random) -> Answer:
        return self._deliver(
            "rotate", site, "installed", lambda: site.install(rotate_secret=True, expect=None)
        )

    def uninstall(self, site: SoakSite, rng: random.Random) -> Answer:
        return self._deliver("uninstall", site, "uninstalled", lambda: site.uninstall(expect=None))

    def reinstall(self, site: SoakSite, rng: random.Random) -> Answer:
        rotate = rng.random() < 0.5
        return self._deliver(
            "reinstall", site, "installed", lambda: site.install(rotate_secret=rotate, expect=None)
        )
