"""After recovery: does the app's database agree with every site, and does every site work?

For each site, read straight from PostgreSQL (the security suites'
``AppDatabase``): the tenant exists; it is installed exactly when the site
thinks so; its current secret is the site's; its secret history is the
secrets the site sent and the app accepted, no more and no fewer; its
accepted ``installed``/``uninstalled`` events are the deliveries the app
answered 2xx. Then each site loads its page once with its current secret.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from benchmarks.soak.sites import SoakSite
from benchmarks.soak.traffic import Answer, Traffic
from tests.security.support import EVENT, SECRET, TENANT, AppDatabase, fingerprint


def database_rows(
    db: AppDatabase,
) -> tuple[dict[str, bool], dict[str, list[tuple[str, bool]]], dict[tuple[str, str], int]]:
    """``(installed by clientKey, [(fingerprint, current)] by clientKey, accepted events)``."""
    # The table names are the suites' constants, never input.
    tenants = f"SELECT client_key, is_installed FROM {TENANT}"  # noqa: S608
    held = (
        f"SELECT t.client_key, s.fingerprint, s.retired_at IS NULL FROM {SECRET} s "  # noqa: S608
        f"JOIN {TENANT} t ON t.id = s.tenant_id"
    )
    accepted = (
        f"SELECT client_key, event_type, COUNT(*) FROM {EVENT} "  # noqa: S608
        "WHERE accepted GROUP BY client_key, event_type"
    )
    installed = {key: bool(value) for key, value in db.rows(tenants)}
    secrets: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for key, fp, current in db.rows(held):
        secrets[key].append((fp, bool(current)))
    events = {(key, event): int(count) for key, event, count in db.rows(accepted)}
    return installed, secrets, events


def check_database(db: AppDatabase, sites: list[SoakSite]) -> dict[str, Any]:
    installed, secrets, events = database_rows(db)
    lost, wrong_state, secrets_wrong, unaccounted = [], [], [], 0
    problems: dict[int, dict[str, Any]] = {}
    for site in sites:
        key = site.client_key
        if key not in installed:
            lost.append(site.number)
            continue
        problem: dict[str, Any] = {}
        if installed[key] != site.installed:
            wrong_state.append(site.number)
            problem["installed"] = {"app": installed[key], "site": site.installed}
        sent = [fingerprint(record.secret) for record in site.secrets]
        held = secrets.get(key, [])
        current = [fp for fp, is_current in held if is_current]
        if current != sent[-1:] or sorted(fp for fp, _ in held) != sorted(sent):
            secrets_wrong.append(site.number)
            problem["secrets"] = {
                "app_current": current,
                "site_current": sent[-1:],
                "only_in_app": sorted({fp for fp, _ in held} - set(sent)),
                "only_at_site": sorted(set(sent) - {fp for fp, _ in held}),
            }
        for event in ("installed", "uninstalled"):
            recorded = events.get((key, event), 0)
            if recorded != site.applied[event]:
                unaccounted += abs(recorded - site.applied[event])
                problem[event] = {"accepted_events": recorded, "answered_2xx": site.applied[event]}
        if problem:
            problems[site.number] = problem
    return {
        "tenants": len(sites),
        "tenants_lost": len(lost),
        "tenants_wrong": len(wrong_state),
        "secrets_wrong": len(secrets_wrong),
        "deliveries_unaccounted": unaccounted,
        "sites_lost": lost[:20],
        "problems": dict(list(problems.items())[:20]),
    }


def check_answers(traffic: Traffic, sites: list[SoakSite]) -> list[Answer]:
    """Each site's page once, with its current secret: the answers that were not right."""
    rng = random.Random(0)
    wrong = []
    for site in sites:
        with site.lock:
            answer = traffic.page(site, rng)
        if not answer.expected:
            wrong.append(answer)
    return wrong
