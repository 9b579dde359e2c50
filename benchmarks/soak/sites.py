"""The simulated sites: one ``ConnectHost`` per tenant, some also on Forge.

A site here calls the app (installs, pages, webhooks) but does not listen:
the soak's traffic is inbound only, so its ``baseUrl`` names a port nothing
listens on (9, discard) with the site's number as the path. The sites share
Atlassian's install keys, served by one install-key CDN; the key in use
changes at set points (:class:`InstallKeys`), as Atlassian's does, so a key
the app has never fetched arrives in the middle of the run.

Each site has a lock: one client thread at a time drives it, so the answer
each request should get follows from the site's state (installed or not,
which secret is current).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import requests

from django_atlassian_connect.testing import ConnectHost, InstallKeyPair, InstallKeyServer
from django_atlassian_connect.testing.forge import ForgePlatform
from django_atlassian_connect.testing.forge.records import Installation

#: The site user the pages and context tokens are for (one of the default accounts).
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
#: Seconds a client waits for an answer: every request ends.
TIMEOUT = 15.0


def send(method: str, url: str, body: Any, headers: dict[str, str]) -> requests.Response:
    """How a site delivers its requests to the app (the ``ConnectHost`` transport)."""
    return requests.request(method, url, json=body, headers=headers, timeout=TIMEOUT)


class SoakSite(ConnectHost):
    """A Jira site that drives the app without serving anything itself."""

    def __init__(self, number: int, key: InstallKeyPair) -> None:
        super().__init__(client_key=f"jira:soak-{number:03d}", install_key=key, transport=send)
        self.number = number
        self.lock = threading.Lock()
        #: the Forge installation of the same site (Connect-on-Forge), if any
        self.forge: Installation | None = None
        #: signed lifecycle deliveries the app answered 2xx, by event
        self.applied: Counter[str] = Counter()
        #: time.monotonic() of the last lifecycle delivery the app accepted
        self.changed_at = float("-inf")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:9/soak-{self.number:03d}"


class InstallKeys:
    """Atlassian's install keys: all served by one CDN, one in use at a time."""

    def __init__(self, count: int) -> None:
        self.pairs = [InstallKeyPair() for _ in range(count)]
        self.in_use = 0
        self.server = InstallKeyServer(*self.pairs)

    @property
    def current(self) -> InstallKeyPair:
        return self.pairs[self.in_use]

    def switch(self) -> None:
        """Sign with the next key from now on (the app has not fetched it yet)."""
        self.in_use = min(self.in_use + 1, len(self.pairs) - 1)


def make_sites(
    count: int, keys: InstallKeys, forge: ForgePlatform, *, forge_every: int
) -> list[SoakSite]:
    """``count`` sites; every ``forge_every``-th also has a Forge installation."""
    sites = [SoakSite(number, keys.current) for number in range(count)]
    for site in sites[::forge_every]:
        site.forge = forge.add_installation(
            "jira", site_url=site.base_url, connect_client_key=site.client_key
        )
    return sites
