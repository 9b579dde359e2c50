"""The soak's figures, from the answers, the Celery probes, the outages and the checks.

An answer belongs to an outage when the request was in flight at some time
between the stop command and ``grace`` seconds after the service accepted
connections again; every other answer is "outside the outages". During an outage an answer is fine
when it is the answer the site's state calls for (served from what still
works) or a 503 with ``Retry-After``; anything else (a 500, another 5xx, a
503 without ``Retry-After``, no answer, a wrong refusal) is counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.soak.celery_probe import Probe
from benchmarks.soak.faults import Outage
from benchmarks.soak.traffic import DELIVERIES, Answer


def fine_in_outage(answer: Answer) -> bool:
    return answer.expected or (answer.status == 503 and answer.retry_after)


def is_refusal(answer: Answer) -> bool:
    """A coded refusal: nothing was applied, and the sender knows to retry or give up."""
    return bool(answer.code) and (400 <= answer.status < 500 or answer.status == 503)


def by_status(answers: list[Answer]) -> dict[str, int]:
    counts = Counter("no answer" if a.status == 0 else str(a.status) for a in answers)
    return dict(sorted(counts.items()))


def example(answer: Answer) -> str:
    what = answer.code or "-"
    return f"{answer.kind} site {answer.site} at {answer.at:.1f} s: {answer.status} {what}"


def recovery(
    outage: Outage, answers: list[Answer], probes: list[Probe], grace: float
) -> dict[str, Any]:
    """Seconds from the service being back until the app answered as it should again."""
    after = [a for a in answers if outage.back_at <= a.at <= outage.back_at + grace]
    bad = [a for a in after if not a.expected]
    first_good = min((a.ended for a in after if a.expected), default=None)
    # The first task sent once the service was back that came back done (a probe a second).
    celery = min((p.ended for p in probes if p.ok and p.at >= outage.back_at), default=None)
    return {
        "app_seconds": round(
            max((a.ended for a in bad), default=outage.back_at) - outage.back_at, 2
        ),
        "first_good_answer_seconds": None
        if first_good is None
        else round(first_good - outage.back_at, 2),
        "celery_seconds": None if celery is None else round(celery - outage.back_at, 2),
    }


def outage_figures(
    outage: Outage, answers: list[Answer], probes: list[Probe], grace: float
) -> dict[str, Any]:
    during = [a for a in answers if outage.holds(a.at, a.ended, grace)]
    down = [a for a in during if a.at <= outage.back_at]
    return {
        "service": outage.service,
        "stopped_at_s": round(outage.stopped_at, 1),
        "down_seconds": round(outage.back_at - outage.stopped_at, 2),
        "start_seconds": round(outage.start_seconds, 2),
        "answers_while_down": len(down),
        "while_down_by_status": by_status(down),
        "while_down_served": sum(a.expected for a in down),
        "while_down_503_retry_after": sum(a.status == 503 and a.retry_after for a in down),
        "answers_in_window": len(during),
        "window_500": sum(a.status == 500 for a in during),
        "window_not_fine": sum(not fine_in_outage(a) for a in during),
        "window_not_fine_examples": [example(a) for a in during if not fine_in_outage(a)][:8],
        "recovery": recovery(outage, answers, probes, grace),
        "celery_probes_failed": sum(not p.ok for p in probes if outage.holds(p.at, p.ended, grace)),
    }


def lifecycle_figures(answers: list[Answer]) -> dict[str, Any]:
    """Deliveries applied (2xx), refused (a coded 4xx, or 503 with a code) or neither."""
    deliveries = [a for a in answers if a.kind in DELIVERIES]
    applied = [a for a in deliveries if 200 <= a.status < 300]
    refused = [a for a in deliveries if is_refusal(a)]
    neither = [a for a in deliveries if not 200 <= a.status < 300 and not is_refusal(a)]
    return {
        "deliveries": len(deliveries),
        "by_kind": dict(sorted(Counter(a.kind for a in deliveries).items())),
        "applied": len(applied),
        "refused": len(refused),
        "refused_by_code": dict(sorted(Counter(a.code for a in refused).items())),
        "neither_by_answer": len(neither),
        "neither_examples": [example(a) for a in neither][:8],
    }


def traffic_figures(
    answers: list[Answer], outages: list[Outage], grace: float, seconds: float
) -> dict[str, Any]:
    outside = [a for a in answers if not any(o.holds(a.at, a.ended, grace) for o in outages)]
    failed = [a for a in outside if a.status >= 500 or a.status == 0]
    wrong = [a for a in outside if not a.expected and 0 < a.status < 500]
    return {
        "sent": len(answers),
        "served": sum(a.status != 0 for a in answers),
        "per_second": round(len(answers) / seconds, 1),
        "by_kind": dict(sorted(Counter(a.kind for a in answers).items())),
        "by_status": by_status(answers),
        "outside_outages": len(outside),
        "outside_5xx_or_no_answer": len(failed),
        "outside_wrong_answers": len(wrong),
        "outside_examples": [example(a) for a in failed + wrong][:8],
        "status_500_anywhere": sum(a.status == 500 for a in answers),
        "latency_p50_ms": _percentile(outside, 0.5),
        "latency_p99_ms": _percentile(outside, 0.99),
    }


def celery_figures(probes: list[Probe], outages: list[Outage], grace: float) -> dict[str, Any]:
    outside = [p for p in probes if not any(o.holds(p.at, p.ended, grace) for o in outages)]
    return {
        "tasks": len(probes),
        "done": sum(p.ok for p in probes),
        "outside_outages_not_done": sum(not p.ok for p in outside),
        "errors": dict(sorted(Counter(p.error for p in probes if not p.ok).items())),
    }


def _percentile(answers: list[Answer], share: float) -> float | None:
    times = sorted(a.seconds for a in answers)
    return round(times[min(len(times) - 1, int(share * len(times)))] * 1000, 1) if times else None


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: its value and whether it was met (all are "0")."""
    traffic = figures["traffic"]
    tenants = figures["tenants"]
    values = {
        "5xx (or no answer) outside the outages": traffic["outside_5xx_or_no_answer"],
        "wrong answers outside the outages": traffic["outside_wrong_answers"],
        "500 anywhere": traffic["status_500_anywhere"],
        "answers in an outage neither served nor 503 with Retry-After": sum(
            o["window_not_fine"] for o in figures["outages"]
        ),
        "tenants lost or wrong after recovery": tenants["tenants_lost"] + tenants["tenants_wrong"],
        "secrets lost or wrong after recovery": tenants["secrets_wrong"],
        "lifecycle deliveries neither applied nor refused": figures["lifecycle"][
            "neither_by_answer"
        ]
        + tenants["deliveries_unaccounted"],
        "wrong answers after recovery": tenants["wrong_answers_after_recovery"],
        "Celery tasks outside the outages not done": figures["celery"]["outside_outages_not_done"],
    }
    return {name: {"value": value, "met": value == 0} for name, value in values.items()}
