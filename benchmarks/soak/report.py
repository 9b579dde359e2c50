"""The soak's figures as text, for the console and the CI log."""

from __future__ import annotations

from typing import Any


def render(result: dict[str, Any]) -> str:
    settings, traffic = result["settings"], result["traffic"]
    lines = [
        f"soak: {settings['duration']:.0f} s, {settings['tenants']} tenants, "
        f"{settings['rate']:.0f} requests/s offered; {result['machine']}",
        f"requests: {traffic['sent']} sent, {traffic['served']} answered "
        f"({traffic['per_second']}/s); by kind {traffic['by_kind']}",
        f"statuses: {traffic['by_status']}; outside the outages p50 "
        f"{traffic['latency_p50_ms']} ms, p99 {traffic['latency_p99_ms']} ms",
    ]
    for outage in result["outages"]:
        lines.append(
            f"{outage['service']}: stopped at {outage['stopped_at_s']} s, down "
            f"{outage['down_seconds']} s; while down {outage['answers_while_down']} answers "
            f"{outage['while_down_by_status']}, {outage['while_down_served']} served, "
            f"{outage['while_down_503_retry_after']} x 503 + Retry-After; "
            f"recovery {outage['recovery']}; not fine {outage['window_not_fine']} "
            f"{outage['window_not_fine_examples']}"
        )
    lifecycle = result["lifecycle"]
    lines += [
        f"deliveries: {lifecycle['deliveries']} {lifecycle['by_kind']}: "
        f"{lifecycle['applied']} applied, {lifecycle['refused']} refused "
        f"{lifecycle['refused_by_code']}, {lifecycle['neither_by_answer']} neither",
        f"tenants: {result['tenants']}",
        f"celery: {result['celery']}",
        f"worker memory (KiB): before {result['worker_memory_kib']['before']}, "
        f"after {result['worker_memory_kib']['after']}",
    ]
    for name, target in result["targets"].items():
        lines.append(f"  {'met   ' if target['met'] else 'MISSED'} {name}: {target['value']}")
    lines.append(f"logs: {result['logs']}")
    return "\n".join(lines)
