"""Shared set-up for the benchmarks: Django on a throw-away SQLite file."""

from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
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


def fresh_context_tokens(count: int, lifetime: int = 7 * 24 * 3600) -> list[str]:
    """``count`` different context tokens of the bench tenant (a ``jti`` each):
    sent round robin, each request brings a token the server has not just seen."""
    from django_atlassian_connect.testing import context_token

    return [
        context_token(
            client_key=CLIENT_KEY,
            secret=SHARED_SECRET,
            account_id=ACCOUNT_ID,
            lifetime=lifetime,
            jti=f"bench-{number}",
        )
        for number in range(count)
    ]


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


# wrk sends each request with the next value of one header, round robin: a new
# token per request (WRK_ROTATE_FILE: one value per line; WRK_ROTATE_HEADER).
_WRK_ROTATE = """
local name = os.getenv("WRK_ROTATE_HEADER")
local values = {}
for line in io.lines(os.getenv("WRK_ROTATE_FILE")) do values[#values + 1] = line end
local next_value = 0
request = function()
  next_value = next_value % #values + 1
  wrk.headers[name] = values[next_value]
  return wrk.format(nil, nil, wrk.headers)
end
"""


def load_run(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    seconds: float = 10,
    connections: int = 32,
    cpus: str | None = None,
    rotate: tuple[str, list[str]] | None = None,
) -> tuple[float, int]:
    """``(requests per second, requests completed)`` at ``url``: wrk (one thread,
    ``connections`` connections) when installed, else :func:`python_load`. Any
    non-2xx answer is an error.

    ``rotate=(header, values)``: each request carries the next value of that
    header (round robin), e.g. a new token per request."""
    import shutil
    import tempfile

    wrk = shutil.which("wrk")
    if wrk is None:
        started = time.monotonic()
        rps = python_load(url, headers, seconds=seconds, connections=connections, rotate=rotate)
        return rps, round(rps * (time.monotonic() - started))
    args = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="dac-wrk-") as tmp:
        if rotate is not None:
            script, values = os.path.join(tmp, "rotate.lua"), os.path.join(tmp, "values")
            with open(script, "w") as out:
                out.write(_WRK_ROTATE)
            with open(values, "w") as out:
                out.write("\n".join(rotate[1]) + "\n")
            env.update(WRK_ROTATE_HEADER=rotate[0], WRK_ROTATE_FILE=values)
            args += ["-s", script]
        return run_wrk([*args, url], url, cpus=cpus, seconds=seconds, env=env)


def run_wrk(
    command: list[str], where: str, *, cpus: str | None, seconds: float, env: dict[str, str]
) -> tuple[float, int]:
    """Run a wrk ``command`` pinned to ``cpus``: ``(requests per second, requests completed)``.

    Any non-2xx answer or timeout is an error (``where`` names the URL in it).
    """
    import re
    import subprocess

    out = subprocess.run(
        pinned(command, cpus),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        env=env,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    if non_2xx or (timeouts and int(timeouts.group(1))):
        raise RuntimeError(f"failed requests at {where}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"cannot read wrk's answer:\n{out}")
    return float(rate.group(1)), int(count.group(1))


def python_load(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    seconds: float = 10,
    connections: int = 8,
    max_requests: int | None = None,
    rotate: tuple[str, list[str]] | None = None,
) -> float:
    """Requests per second with ``connections`` threads of ``http.client``
    (keep-alive when the server keeps the connection). The fallback when wrk is
    missing: it needs more CPU per request than wrk, so fast servers measure
    slower than they are. Stops after ``seconds`` or ``max_requests``.
    ``rotate``: as for :func:`load_run`."""
    import http.client
    import itertools
    import threading
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + seconds
    done = [0]
    errors: list[str] = []
    lock = threading.Lock()
    rotation = itertools.cycle(rotate[1]) if rotate else None

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < deadline and not errors:
            with lock:
                if max_requests is not None and done[0] >= max_requests:
                    return
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                sent = dict(headers or {})
                if rotate is not None and rotation is not None:
                    with lock:
                        sent[rotate[0]] = next(rotation)
                conn.request("GET", target, headers=sent)
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


def stop_process(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM (a server stops its workers on it), then SIGKILL after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system, all threads) the processes ``pids`` used so far."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
