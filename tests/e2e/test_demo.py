"""`make demo`'s scenario is part of the suite: it must pass on every change."""

import subprocess
import sys
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
        "401 secret_retired",
        "a page token afterwards: 401 tenant_uninstalled",
        "All 9 steps behaved as expected",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
