"""The example project adopting Forge, over real HTTP: the Connect uninstall ends its Forge
installation (``/forge/myself?as=app`` then answers 409 without calling the gateway),
``connect_tenants --link --dry-run``, and ``python -m django_atlassian_connect.testing.host
--forge`` installing it both ways."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from django_atlassian_connect.testing.connect_on_forge import share_site
from django_atlassian_connect.testing.forge import ForgePlatform
from django_atlassian_connect.testing.host import ConnectHost

from . import conftest
from .conftest import ExampleApp, forge_example_app, start_example_app, stop
from .test_forge_example import APP_KEY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[ConnectHost]:
    with ConnectHost(product="jira") as host:
        yield host


@pytest.fixture(scope="module")
def forge() -> Iterator[ForgePlatform]:
    with ForgePlatform(connect_key=APP_KEY) as platform:
        yield platform


@pytest.fixture(scope="module")
def app(tmp_path_factory, site, forge) -> Iterator[ExampleApp]:
    with forge_example_app(tmp_path_factory.mktemp("adoption"), site, forge) as example:
        yield example


def test_a_connect_uninstall_ends_the_forge_installation(app, site, forge):
    installation = share_site(site, forge)
    site.install(app.base_url + "/atlassian-connect.json")
    user = next(iter(site.accounts))
    (attempt,) = forge.deliver_lifecycle("avi:forge:installed:app", installation, retries=0)
    assert attempt.status == 204
    me = forge.invoke("/forge/me", "GET", installation=installation, account_id=user)
    assert (me.status_code, me.json()["clientKey"], me.json()["accountId"]) == (
        200,
        site.client_key,
        user,
    )
    myself = forge.invoke("/forge/myself?as=app", "GET", installation=installation)
    assert (myself.status_code, myself.json()["accountType"]) == (200, "app")
    assert myself.json()["accountId"] == forge.directory.app_account.account_id

    site.uninstall()
    calls = len(forge.gateway.log)
    refused = forge.invoke("/forge/myself?as=app", "GET", installation=installation)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "forge_installation_uninstalled"
    assert installation.id in refused.json()["detail"]
    assert len(forge.gateway.log) == calls  # the gateway was not called

    # connect_tenants --link --dry-run: another site's installation nothing links; no change.
    other = forge.add_installation("jira")
    forge.deliver_lifecycle("avi:forge:installed:app", other, retries=0)
    dry = app.manage("connect_tenants", "--link", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{other.id}\tjira {other.cloud_id}\tnot linkable: " in dry.stdout
    assert "0 of 1 unlinked Forge installation(s) would be linked (dry run: nothing changed)." in (
        dry.stdout
    )


def _read_until(process: subprocess.Popen[str], lines: queue.Queue[str], pattern: str) -> str:
    out = ""
    deadline = time.monotonic() + 120
    while not re.search(pattern, out):
        assert process.poll() is None or not lines.empty(), f"exited early:\n{out}"
        try:
            out += lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {pattern!r} after 120 s:\n{out}") from None
    return out


def test_the_host_cli_with_forge_installs_both_ways(tmp_path, monkeypatch):
    port = conftest.free_port()
    descriptor = f"http://127.0.0.1:{port}/atlassian-connect.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "django_atlassian_connect.testing.host", "--forge", descriptor],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    app = None
    try:
        out = _read_until(process, lines, r"Waiting for ")
        setting = dict(re.findall(r"^  ([A-Z_]+)\s+= (.+)$", out, re.MULTILINE))
        installation_id = re.search(r"installationId\s+= (\S+)", out).group(1)
        env = {
            "CONNECT_AUTHORIZATION_SERVER_URL": setting["AUTHORIZATION_SERVER_URL"],
            "CONNECT_FORGE_APP_ID": setting["FORGE_APP_ID"],
            "CONNECT_FORGE_JWKS_URL": setting["FORGE_JWKS_URL"],
            "CONNECT_FORGE_API_HOSTS": "127.0.0.1",
        }
        assert setting["FORGE_API_HOSTS"] == "['127.0.0.1']"
        monkeypatch.setattr(conftest, "free_port", lambda: port)
        app = start_example_app(tmp_path, setting["INSTALL_KEYS_URL"], env)
        out += _read_until(process, lines, r"answered \S+\.\n")
        assert f"The install carried installationId {installation_id}; POST /forge/lifecycle " in (
            out
        )
        assert "(avi:forge:installed:app) answered 204." in out
        listed = app.manage("connect_tenants", "--forge")
        assert listed.returncode == 0, listed.stderr
        assert f"forge {installation_id}\tPRODUCTION\tlinked by connect_install\tsystem token " in (
            listed.stdout
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "Stopped." in _read_until(process, lines, r"Stopped\.")
    finally:
        if process.poll() is None:
            process.kill()
        if app is not None:
            stop(app)
