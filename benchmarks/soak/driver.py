"""The client threads: set the sites up, then mixed traffic at a steady rate until a deadline.

A bounded number of threads, each paced to its share of ``rate`` requests a
second; each request holds its site's lock, so no two threads drive one site
at once. Every thread stops by itself at the deadline (and every request has
a timeout), so the run ends within ``TIMEOUT`` seconds of it.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.soak.sites import TIMEOUT, SoakSite
from benchmarks.soak.traffic import Answer, Traffic

#: How long after the deadline the last request may still be running.
DRAIN = TIMEOUT + 5


def set_up(sites: list[SoakSite], traffic: Traffic, threads: int) -> None:
    """Install every site (Forge sites with their installation linked), deliver Forge's own
    ``installed`` event, and load each site's page once (the tenant cache is warm)."""

    def one(site: SoakSite) -> None:
        rng = random.Random(site.number)
        if site.forge is not None:
            site.installation_id = site.forge.id
        steps = [traffic.install(site, rng)]
        if site.forge is not None:
            (attempt,) = traffic.forge.deliver_lifecycle(
                "avi:forge:installed:app", site.forge, retries=0
            )
            if attempt.status != 204:
                raise RuntimeError(f"site {site.number}: Forge installed answered {attempt.status}")
        steps.append(traffic.page(site, rng))
        for step in steps:
            if not step.expected:
                raise RuntimeError(f"set-up of site {site.number} failed: {step}")

    # The first site alone: while one process fetches Forge's JWKS, the others
    # refuse Forge calls with 503 key_unavailable instead of waiting for it.
    one(sites[0])
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, sites[1:]))


class Driver:
    """``clients`` threads sending ``rate`` requests a second in all, over ``sites``."""

    def __init__(
        self, traffic: Traffic, sites: list[SoakSite], *, clients: int, rate: float, seed: int
    ) -> None:
        self.traffic = traffic
        self.sites = sites
        self.clients = clients
        self.interval = clients / rate  # seconds between two requests of one thread
        self.seed = seed
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, until: float) -> None:
        self._threads = [
            threading.Thread(
                target=self._client, args=(n, until), name=f"soak-client-{n}", daemon=True
            )
            for n in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=DRAIN)

    def stop(self) -> None:
        """End the run early (the threads finish the request they are sending)."""
        self.stopping.set()

    def _take(self, rng: random.Random) -> SoakSite | None:
        """A site no other thread is driving (a few tries), its lock held."""
        for _ in range(20):
            site = rng.choice(self.sites)
            if site.lock.acquire(blocking=False):
                return site
        return None

    def _client(self, number: int, until: float) -> None:
        rng = random.Random(self.seed * 1000 + number)
        # Spread the threads' first requests over one interval.
        next_at = time.monotonic() + self.interval * number / self.clients
        while time.monotonic() < until:
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                return
            # After a stall (a slow answer), carry on at the pace: no burst to catch up.
            next_at = max(next_at + self.interval, time.monotonic() - 1.0)
            if time.monotonic() >= until:
                return
            site = self._take(rng)
            if site is None:
                continue
            try:
                self.answers.append(self.traffic.act(site, rng))
            finally:
                site.lock.release()
