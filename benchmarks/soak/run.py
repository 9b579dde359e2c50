"""One soak: start the stack, set the sites up, traffic with two outages, then the checks."""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.soak import figures, verify
from benchmarks.soak.celery_probe import CeleryProbe
from benchmarks.soak.driver import DRAIN, Driver, set_up
from benchmarks.soak.faults import Outage, restart
from benchmarks.soak.services import PostgresCluster, RedisServer
from benchmarks.soak.sites import InstallKeys, SoakSite, make_sites
from benchmarks.soak.stack import Stack, start_stack
from benchmarks.soak.traffic import Traffic
from tests.security.support import AppDatabase


def soak(
    args: argparse.Namespace, tmp: Path, pg: PostgresCluster, redis: RedisServer
) -> dict[str, Any]:
    """The figures of one run (without the targets); the servers are stopped at the end."""
    keys = InstallKeys(3)  # the first, then one new key as each service goes down
    stack = start_stack(
        tmp,
        database_url=pg.url(),
        redis=redis,
        keys=keys.server,
        workers=args.workers,
        threads=args.threads,
    )
    driver: Driver | None = None
    try:
        sites = make_sites(args.tenants, keys, stack.forge, forge_every=args.forge_every)
        traffic = Traffic(stack.url, stack.forge, keys, time.monotonic())
        print(f"setting up {len(sites)} sites ...", flush=True)
        set_up(sites, traffic, args.clients)
        memory_before = stack.worker_memory()
        traffic.began = time.monotonic()
        driver = Driver(traffic, sites, clients=args.clients, rate=args.rate, seed=args.seed)
        probe = CeleryProbe(stack.broker_url, traffic.began)
        outages = with_faults(args, driver, probe, keys, pg, redis)
        seconds = time.monotonic() - traffic.began
        print(f"{seconds:6.1f} s: traffic done; checking every tenant", flush=True)
        tenants = checks(traffic, sites, pg)
        with (tmp / "answers.jsonl").open("w") as out:  # every answer, for a closer look
            out.writelines(json.dumps(asdict(a)) + "\n" for a in driver.answers)
        return {
            "traffic": figures.traffic_figures(driver.answers, outages, args.grace, seconds),
            "outages": [
                figures.outage_figures(o, driver.answers, probe.probes, args.grace) for o in outages
            ],
            "lifecycle": figures.lifecycle_figures(driver.answers),
            "tenants": tenants,
            "celery": figures.celery_figures(probe.probes, outages, args.grace),
            "worker_memory_kib": memory(stack, memory_before),
        }
    finally:
        if driver is not None:
            driver.stop()
        stack.stop()


def with_faults(
    args: argparse.Namespace,
    driver: Driver,
    probe: CeleryProbe,
    keys: InstallKeys,
    pg: PostgresCluster,
    redis: RedisServer,
) -> list[Outage]:
    """Traffic for ``args.duration`` seconds; Redis restarted at a third, PostgreSQL at two."""
    began = driver.traffic.began
    until = began + args.duration
    prober = threading.Thread(
        target=probe.run, args=(until, driver.stopping), name="soak-probe", daemon=True
    )
    driver.start(until)
    prober.start()
    outages = []
    for share, name, service in ((1 / 3, "redis", redis), (2 / 3, "postgresql", pg)):
        time.sleep(max(0.0, began + args.duration * share - time.monotonic()))
        print(
            f"{time.monotonic() - began:6.1f} s: stopping {name} for {args.outage:.0f} s",
            flush=True,
        )
        # A new install key as the service goes down: the app has not fetched it yet.
        outage = restart(
            name, service.stop, service.start, hold=args.outage, began=began, on_stop=keys.switch
        )
        print(f"{outage.back_at:6.1f} s: {name} is back", flush=True)
        outages.append(outage)
    driver.join()
    prober.join(timeout=DRAIN)
    return outages


def checks(traffic: Traffic, sites: list[SoakSite], pg: PostgresCluster) -> dict[str, Any]:
    """The database against every site, then one page per site."""
    tenants = verify.check_database(AppDatabase(pg.url()), sites)
    wrong = verify.check_answers(traffic, sites)
    tenants["wrong_answers_after_recovery"] = len(wrong)
    tenants["wrong_answer_examples"] = [figures.example(a) for a in wrong[:8]]
    return tenants


def memory(stack: Stack, before: dict[int, int]) -> dict[str, Any]:
    """Each gunicorn worker's resident memory before and after, KiB by pid."""
    after = stack.worker_memory()
    return {"before": before, "after": after, "same_processes": sorted(before) == sorted(after)}
