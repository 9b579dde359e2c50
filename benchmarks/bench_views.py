"""In-process profile of /hello and /api/me: where a request's time goes.

The example project (``benchmarks.bench_settings``: production settings, the
unauthenticated twins) called through Django's ``WSGIHandler`` with its whole
middleware stack, no server and no socket: a fresh WSGI environ per call,
exactly what gunicorn hands the application.

- ``<endpoint>_us``: microseconds per request, best of ``ROUNDS`` interleaved
  rounds of ``CALLS`` requests (``hello``, ``hello_open``, ``me``, ``me_open``,
  and ``me_fresh``: ``/api/me`` with a new context token on every request,
  ``FRESH_TOKENS`` round robin, more than the verified-token memo holds);
- ``<endpoint>_auth_share``: the share of the request spent in our
  verification (``inbound.verify_request``), from a cProfile run;
- ``<endpoint>_top``: the functions with the most own time under cProfile
  (profiling inflates call-heavy code: read the shares, not the absolutes).
"""

from __future__ import annotations

import cProfile
import io
import itertools
import os
import pstats
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLS = 2000
FRESH_TOKENS = 5000  # > VERIFIED_TOKEN_CACHE_SIZE (1024): round robin, every one a miss
ROUNDS = 7
BASE_URL = "http://127.0.0.1:8000"


def _setup() -> None:
    sys.path[:0] = [str(ROOT / "example_project"), str(ROOT)]
    from benchmarks.common import example_env

    db = Path(tempfile.mkdtemp(prefix="dac-bench-views-")) / "views.sqlite3"
    os.environ.update(example_env(BASE_URL, db))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _environ(path: str, query: str, headers: dict[str, str]) -> dict[str, object]:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "*/*",
        "HTTP_USER_AGENT": "bench",
        "REMOTE_ADDR": "127.0.0.1",
        "RAW_URI": f"{path}?{query}" if query else path,
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(headers)
    return environ


def run(calls: int = CALLS) -> dict[str, object]:
    _setup()
    from django.core.handlers.wsgi import WSGIHandler

    from benchmarks.common import HELLO_QUERY, bench_tokens, fresh_context_tokens, seed_tenant

    seed_tenant()
    tokens = bench_tokens()
    fresh = itertools.cycle([f"JWT {token}" for token in fresh_context_tokens(FRESH_TOKENS)])
    context = {"HTTP_AUTHORIZATION": f"JWT {tokens['context']}"}
    # name -> (path, query, headers, a new Authorization header on every call)
    endpoints = {
        "hello": ("/hello", f"{HELLO_QUERY}&jwt={tokens['hello']}", {}, False),
        "hello_open": ("/hello-open", f"{HELLO_QUERY}&jwt={tokens['hello']}", {}, False),
        "me": ("/api/me", "", context, False),
        "me_fresh": ("/api/me", "", {}, True),
        "me_open": ("/api/me-open", "", context, False),
    }
    app = WSGIHandler()

    def caller(path: str, query: str, headers: dict[str, str], rotate: bool):  # type: ignore[no-untyped-def]
        template = _environ(path, query, headers)

        def call() -> None:
            status: list[str] = []
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO(b"")
            if rotate:
                environ["HTTP_AUTHORIZATION"] = next(fresh)
            response = app(environ, lambda s, h, *_: status.append(s))
            body = b"".join(response)
            response.close()  # as a WSGI server does: request_finished and its receivers
            if not status[0].startswith("200"):
                raise RuntimeError(f"{path}: {status[0]} {body[:300]!r}")

        return call

    calls_by_name = {name: caller(*spec) for name, spec in endpoints.items()}
    for call in calls_by_name.values():
        for _ in range(200):  # warm: tenant cache, templates, memos
            call()
    best = dict.fromkeys(calls_by_name, float("inf"))
    for _ in range(ROUNDS):
        for name, call in calls_by_name.items():
            best[name] = min(best[name], timeit.timeit(call, number=calls) / calls * 1e6)
    results: dict[str, object] = {f"{name}_us": value for name, value in best.items()}

    for name in ("hello", "me", "me_fresh"):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(calls):
            calls_by_name[name]()
        profile.disable()
        stats = pstats.Stats(profile)
        total = stats.total_tt  # type: ignore[attr-defined]
        verify = sum(
            row[3]
            for (filename, _, function), row in stats.stats.items()  # type: ignore[attr-defined]
            if function == "verify_request" and filename.endswith("inbound.py")
        )
        results[f"{name}_auth_share"] = verify / total
        top = sorted(
            stats.stats.items(),  # type: ignore[attr-defined]
            key=lambda item: -item[1][2],
        )[:12]
        results[f"{name}_top"] = [
            f"{Path(filename).name}:{function} {row[2] / total * 100:.1f} %"
            for (filename, _, function), row in top
        ]
    return results


if __name__ == "__main__":
    for key, value in run().items():
        print(key, value)
