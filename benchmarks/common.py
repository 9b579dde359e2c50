"""Shared set-up for the benchmarks: Django on a throw-away SQLite file."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(db_path: str | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    db_path = db_path or os.path.join(tempfile.mkdtemp(prefix="dac-bench-"), "bench.sqlite3")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"].pop("TEST", None)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def per_call_us(func: Callable[[], object], *, number: int = 2000, repeat: int = 7) -> float:
    """Best-of-``repeat`` mean time of one call, in microseconds."""
    func()
    timings = timeit.repeat(func, number=number, repeat=repeat)
    return min(timings) / number * 1e6


def median_us(func: Callable[[], object], *, runs: int = 200) -> float:
    samples = []
    for _ in range(runs):
        start = timeit.default_timer()
        func()
        samples.append((timeit.default_timer() - start) * 1e6)
    return statistics.median(samples)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    import django
    import jwt

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"Django {django.get_version()}, PyJWT {jwt.__version__}, {platform.system()} {platform.release()}"
    )


# -- the example project, as the throughput and profile benchmarks run it --------------

#: The tenant both frameworks know (same clientKey and sharedSecret).
CLIENT_KEY = "jira:bench"
SHARED_SECRET = "ATCO" + "s" * 60
ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"
SITE_URL = "https://bench.atlassian.net"
APP_KEY = "com.example.django-connect-demo"
#: What the product appends to a general page's URL (jwt added per request).
HELLO_QUERY = (
    "xdm_e=https%3A%2F%2Fbench.atlassian.net&xdm_c=channel-com.example.django-connect-demo__hello"
    "&cp=&xdm_deprecated_addon_key_do_not_use=com.example.django-connect-demo&lic=none"
    "&cv=1001.0.0-SNAPSHOT"
)


def example_env(base_url: str, db_path: str | os.PathLike[str]) -> dict[str, str]:
    """The environment that serves the example project (production-like settings)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "example_project"), str(ROOT)]),
        "CONNECT_BASE_URL": base_url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "*.atlassian.net,127.0.0.1",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "DJANGO_DEBUG": "0",
        "BENCH_CLIENT_KEY": CLIENT_KEY,
        "BENCH_ACCOUNT_ID": ACCOUNT_ID,
    }
    for name in ("CELERY_BROKER_URL", "CONNECT_CACHE_URL", "CONNECT_FORGE_APP_ID"):
        env.pop(name, None)
    return env


def seed_tenant() -> None:
    """The benchmark tenant, through the ORM (Django must be set up)."""
    from django_atlassian_connect.models import SharedSecret, get_tenant_model

    tenant = get_tenant_model()._default_manager.create(
        client_key=CLIENT_KEY, app_key=APP_KEY, base_url=SITE_URL, product_type="jira"
    )
    SharedSecret.for_secret(tenant, SHARED_SECRET).save()


def bench_tokens(lifetime: int = 7 * 24 * 3600) -> dict[str, str]:
    """``hello`` (a page token for GET /hello?HELLO_QUERY) and ``context`` tokens."""
    from django_atlassian_connect.testing import context_token, request_token

    return {
        "hello": request_token(
            client_key=CLIENT_KEY,
            secret=SHARED_SECRET,
            method="GET",
            url=f"/hello?{HELLO_QUERY}",
            account_id=ACCOUNT_ID,
            lifetime=lifetime,
        ),
        "context": context_token(
            client_key=CLIENT_KEY, secret=SHARED_SECRET, account_id=ACCOUNT_ID, lifetime=lifetime
        ),
    }


# -- load generation -----------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None) -> None:
    """Until ``url`` answers at all (any status), at most ``timeout`` seconds."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
            urllib.request.urlopen(request, timeout=2)  # noqa: S310
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers at {url} after {timeout:.0f} s") from None
            time.sleep(0.1)


def cpu_sets() -> tuple[str | None, str | None]:
    """``(server, load)`` CPU lists for ``taskset``: the server on CPU 0, the load
    generator on the others; ``(None, None)`` without taskset or with one CPU."""
    import shutil

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cpus) < 2:
        return None, None
    return str(cpus[0]), ",".join(str(cpu) for cpu in cpus[1:])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


def load(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    seconds: float = 10,
    connections: int = 32,
    cpus: str | None = None,
) -> float:
    """Requests per second at ``url``: wrk (one thread, ``connections`` connections)
    when installed, else :func:`python_load`. Any non-2xx answer is an error."""
    import re
    import shutil
    import subprocess

    wrk = shutil.which("wrk")
    if wrk is None:
        return python_load(url, headers, seconds=seconds, connections=connections)
    args = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        pinned([*args, url], cpus), capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    if non_2xx or (timeouts and int(timeouts.group(1))):
        raise RuntimeError(f"failed requests at {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"cannot read wrk's answer:\n{out}")
    return float(match.group(1))


def python_load(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    seconds: float = 10,
    connections: int = 8,
    max_requests: int | None = None,
) -> float:
    """Requests per second with ``connections`` threads of ``http.client``
    (keep-alive when the server keeps the connection). The fallback when wrk is
    missing: it needs more CPU per request than wrk, so fast servers measure
    slower than they are. Stops after ``seconds`` or ``max_requests``."""
    import http.client
    import threading
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + seconds
    done = [0]
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < deadline and not errors:
            with lock:
                if max_requests is not None and done[0] >= max_requests:
                    return
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                conn.request("GET", target, headers=headers or {})
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 300:
                    errors.append(f"{response.status} from {url}")
                if response.will_close:
                    conn.close()
                    conn = None
            except OSError as exc:
                errors.append(f"{type(exc).__name__} from {url}")
                return
            with lock:
                done[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    return done[0] / (time.monotonic() - started)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
