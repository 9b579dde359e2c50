"""The simulators' ``python -m`` entry points: they start on 127.0.0.1, print their URLs
and the settings to set, serve, and stop cleanly (ports closed, exit 0) on SIGTERM and SIGINT."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests

READY = "Ctrl-C or SIGTERM stops it."


@dataclass
class Running:
    process: subprocess.Popen[str]
    out: str
    lines: queue.Queue[str]

    def setting(self, name: str) -> str:
        return re.search(rf"^  {name}\s+= (.+)$", self.out, re.MULTILINE).group(1)

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.process.send_signal(sig)
        assert self.process.wait(timeout=30) == 0
        rest = ""
        while not self.lines.empty():
            rest += self.lines.get()
        return rest


@contextmanager
def started(module: str, *args: str) -> Iterator[Running]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    )
    reader.start()
    out = ""
    try:
        deadline = time.monotonic() + 60
        while READY not in out:
            try:
                out += lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{module} not ready after 60 s:\n{out}") from None
        yield Running(process, out, lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_forge_platform(sig):
    with started("django_atlassian_connect.testing.forge", "--connect-key", "com.example.x") as run:
        app_id, jwks_url = run.setting("FORGE_APP_ID"), run.setting("FORGE_JWKS_URL")
        assert re.fullmatch(r"ari:cloud:ecosystem::app/[0-9a-f-]{36}", app_id)
        assert run.setting("FORGE_API_HOSTS") == "['127.0.0.1']"
        keys = requests.get(jwks_url, timeout=5).json()["keys"]
        assert keys and keys[0]["kty"] == "RSA"
        gateway = re.search(r"API gateway  (http://127\.0\.0\.1:\d+)", run.out).group(1)
        cloud_id = re.search(
            r"installation ari:cloud:ecosystem::installation/\S+ \(jira, cloudId "
            r"([0-9a-f-]{36}),",
            run.out,
        ).group(1)
        myself = f"{gateway}/ex/jira/{cloud_id}/rest/api/3/myself"
        assert requests.get(myself, timeout=5).status_code == 401  # the gateway wants its token
        assert run.stop(sig) == "Stopped.\n"
        assert refused(jwks_url) and refused(gateway)


def test_the_forge_platform_keeps_an_app_id_it_is_given():
    uuid = "0f6a1e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    with started("django_atlassian_connect.testing.forge", "--app-id", uuid) as run:
        assert run.setting("FORGE_APP_ID") == f"ari:cloud:ecosystem::app/{uuid}"
        run.stop()


def test_a_bad_app_id_is_refused_with_the_fix():
    result = subprocess.run(
        [sys.executable, "-m", "django_atlassian_connect.testing.forge", "--app-id", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "'nope' is not a Forge app id: use 'ari:cloud:ecosystem::app/<uuid>'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_oauth_server():
    with started("django_atlassian_connect.testing.oauth") as run:
        auth_url, api_url = run.setting("OAUTH_AUTH_URL"), run.setting("API_URL")
        assert run.setting("OAUTH_CLIENT_ID") == "simulated-3lo-client"
        consent = requests.get(
            auth_url + "/authorize",
            params={
                "client_id": "simulated-3lo-client",
                "redirect_uri": "http://127.0.0.1:9/cb",
                "response_type": "code",
                "state": "s",
                "scope": "read:me",
                "audience": "api.atlassian.com",
            },
            timeout=5,
        )
        assert consent.status_code == 200 and "Accept" in consent.text  # a consent page by hand
        assert requests.get(api_url + "/me", timeout=5).status_code == 401
        assert "CONNECT_OAUTH_AUTH_URL=" + auth_url in run.out
        assert run.stop() == "Stopped.\n"
        assert refused(auth_url) and refused(api_url)


def test_the_site_with_forge_without_an_app():
    with started("django_atlassian_connect.testing.host", "--forge") as run:
        keys_url = run.setting("INSTALL_KEYS_URL")
        jwks_url = run.setting("FORGE_JWKS_URL")
        assert requests.get(jwks_url, timeout=5).json()["keys"]
        assert re.search(
            r"Simulated Forge platform for the same site \(cloudId [0-9a-f-]{36}\)", run.out
        )
        assert re.search(r"installationId\s+= ari:cloud:ecosystem::installation/", run.out)
        assert f"CONNECT_FORGE_JWKS_URL={jwks_url}" in run.out
        assert run.stop() == "Stopped.\n"
        assert refused(keys_url) and refused(jwks_url)


def test_the_site_says_when_the_app_never_answers():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django_atlassian_connect.testing.host",
            "--wait",
            "1",
            "http://127.0.0.1:9/atlassian-connect.json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        "Error: http://127.0.0.1:9/atlassian-connect.json did not answer within 1 s: start the "
        "app with the settings above (or raise --wait)"
    ) in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
