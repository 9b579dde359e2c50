"""Outbound at volume: 10,000 calls as the app to a local site that answers in 50 ms.

16 threads, each call the way application code writes it
(``ConnectClient(tenant).as_app().get(...)``: a fresh client and session per
call), against a keep-alive HTTP/1.1 server on 127.0.0.1 that sleeps 50 ms and
sends Jira's rate-limit headers. Reports calls/s, the TCP connections the site
accepted, and the writes to Django's cache (the rate-limit state among them).

    python -m benchmarks.bench_outbound_volume [--calls 10000] [--threads 16] [--json PATH]

Run it on two checkouts to compare (the figures in docs/performance.rst were
taken that way, one after the other, on the same machine).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.common import machine, setup_django

SECRET = "ATCO" + "v" * 60
LATENCY = 0.05


class Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY a kept-alive connection
    # waits out the client's delayed ACK (40 ms) on each answer, as no real site does.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        time.sleep(LATENCY)
        body = b'{"accountType": "app"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-RateLimit-Limit", "100000")
        self.send_header("X-RateLimit-Remaining", "90000")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    connections = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        self.connections += 1
        return super().get_request()


def run(calls: int = 10_000, threads: int = 16) -> dict[str, object]:
    setup_django()
    from django.core.cache import caches

    from django_atlassian_connect.connect.client import ConnectClient
    from django_atlassian_connect.models import SharedSecret, Tenant

    server = CountingServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    tenant = Tenant.objects.create(client_key="jira:volume", app_key="k", base_url=base_url)
    SharedSecret.for_secret(tenant, SECRET).save()

    # Patched on the backend classes: each thread has its own cache objects.
    writes = [0]
    backends = {type(caches[alias]) for alias in caches}
    originals = {backend: backend.set for backend in backends}

    def counting(real):  # type: ignore[no-untyped-def]
        def counting_set(self, *args: object, **kwargs: object) -> object:  # type: ignore[no-untyped-def]
            writes[0] += 1
            return real(self, *args, **kwargs)

        return counting_set

    for backend, real in originals.items():
        backend.set = counting(real)  # type: ignore[method-assign]
    errors: list[str] = []

    def one(_: int) -> None:
        try:
            ConnectClient(tenant).as_app().get("/rest/api/3/myself").raise_for_status()
        except Exception as exc:  # counted, not raised: the run goes on
            errors.append(type(exc).__name__)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(calls)))
    elapsed = time.perf_counter() - started
    server.shutdown()
    for backend, real in originals.items():
        backend.set = real  # type: ignore[method-assign]
    return {
        "machine": machine(),
        "calls": calls,
        "threads": threads,
        "latency_ms": LATENCY * 1000,
        "seconds": round(elapsed, 2),
        "calls_per_s": round(calls / elapsed, 1),
        "connections": server.connections,
        "cache_writes": writes[0],
        "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    result = run(args.calls, args.threads)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
