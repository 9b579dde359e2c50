"""``make demo-serve PROJECT=path/to/manage.py``: the simulators against a project other than
the example one (``demo.py --serve --project``)."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from .test_demo import DEMO, _port_free

OTHER = Path(__file__).resolve().parents[1] / "testing" / "other_project" / "manage.py"


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--project", str(OTHER)], "--project goes with --serve"),
        (["--serve", "--project", "/nonexistent/manage.py"], "no such file; pass your project's"),
        (["--project-settings", "x.settings"], "--project-settings goes with --project"),
        (["--serve", "--project", __file__], "pass --project-settings yourproject.settings"),
    ],
)
def test_what_cannot_work_is_refused_before_anything_starts(args, says):
    result = demo(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_demo_serve_runs_another_project():
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--serve", "--project", str(OTHER)],
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
            assert process.poll() is None, f"demo.py exited early:\n{out}"
            try:
                out += lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not serving after 120 s:\n{out}") from None
        assert f"Your project:    {OTHER} (settings otherproject.settings)" in out
        assert re.search(r"installed: 204 \(clientKey jira:\S+, Forge installationId ari:", out)
        app_url = re.search(r"The app runs on (http://127\.0\.0\.1:\d+)", out).group(1)
        descriptor = requests.get(app_url + "/atlassian-connect.json", timeout=10).json()
        assert (descriptor["key"], descriptor["baseUrl"]) == ("org.example.other-project", app_url)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert _port_free(int(app_url.rsplit(":", 1)[1]))
