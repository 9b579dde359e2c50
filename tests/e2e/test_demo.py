"""`make demo`'s scenario is part of the suite: it must pass on every change."""

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "example_project" / "demo.py"


def test_demo_walks_every_step():
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in (
        "signed install (RS256",
        "an unsigned install with the same clientKey refused: 401 token_missing",
        "GET /hello with an iframe JWT",
        "the same call with an iframe token: 401 context_qsh_required",
        "POST /webhooks/issue-created (jira:issue_created, DEMO-42): 200",
        "as the app:  GET /rest/api/3/myself -> 200",
        "as the user: GET /rest/api/3/myself -> 200",
        "it carries the Forge installationId ari:cloud:ecosystem::installation/",
        "POST /forge/lifecycle (avi:forge:installed:app, id ",
        "the Forge installation maps to the Connect tenant that signed the install",
        "as the app:  GET {apiBaseUrl}/rest/api/3/myself -> 200 simulated-forge-app (system token)",
        "as the user: GET {apiBaseUrl}/rest/api/3/myself -> 200 Alana Grant (user token)",
        "GET /forge/me with a FIT that expired: 401 token_expired",
        'Django user "dana" logged in at /accounts/login/',
        "/authorize (audience=api.atlassian.com, scope read:me read:jira-user read:jira-work "
        "offline_access, prompt=consent, state bound to the session)",
        "GET /oauth/callback?code=…&state=…: 302 /oauth/resources",
        'GET /oauth/resources: {"resources": [{"id": "',
        "the site is linked by cloudId to the Connect tenant jira:",
        "GET /oauth/myself?cloudId=…: 200 Alana Grant (GET {API_URL}/ex/jira/",
        "an hour later, the access token expired: 200 again after 1 refresh",
        "the same callback again (replayed state): 400, nothing stored",
        'WWW-Authenticate: Bearer realm="com.example.django-connect-demo", error="token_expired"',
        "401 secret_retired",
        "a page token afterwards: 401 tenant_uninstalled",
        "Generate the Forge manifest.yml of the app (Connect-on-Forge)",
        "(--check passes)",
        "All 15 steps behaved as expected",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes in /proc")
def test_serve_cleans_up_on_sigterm():
    """``demo.py --serve`` stopped with SIGTERM (not Ctrl-C) leaves no runserver behind."""
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    out = ""
    try:
        deadline = time.monotonic() + 120
        while not re.search(r"The app runs on http://127\.0\.0\.1:\d+", out):
            assert process.poll() is None, f"demo.py --serve exited early:\n{out}"
            try:
                out += lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"demo.py --serve not serving after 120 s:\n{out}") from None
        assert re.search(r"Open http://127\.0\.0\.1:\d+/\?module=hello in a browser", out), out
        app_port = int(re.search(r"The app runs on http://127\.0\.0\.1:(\d+)", out).group(1))
        children = _children(process.pid)
        assert children, "no child process (runserver) found"
        assert not _port_free(app_port)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    for pid in children:
        assert not _alive(pid), f"child {pid} outlived demo.py after SIGTERM"
    assert _port_free(app_port), f"port {app_port} is still taken after SIGTERM"
