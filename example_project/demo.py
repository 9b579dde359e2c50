#!/usr/bin/env python
"""The example app end to end against a simulated Atlassian site (``make demo``).

Starts the example project (SQLite, ``runserver`` on a free 127.0.0.1 port),
a simulated Jira site and a simulated Forge platform (JWKS and API gateway),
then walks the whole story: descriptor, signed install (carrying the Forge
installationId, as a Connect-on-Forge site sends it), iframe page,
context-token API call, webhook, calls to the product as the app and as a
user; then Forge Remote: a lifecycle event, a UI invocation mapped to the
same tenant, calls through the API gateway as the app and as the user, an
expired Forge Invocation Token refused; then OAuth 2.0 (3LO): a Django user
links an Atlassian account (simulated authorization server and API gateway)
and calls Jira with it; then secret rotation, an old-secret token refused,
uninstall. Exits 0 only if every step behaved as expected.

``--serve`` leaves both running and prints the URL to open in a browser.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package from this checkout

import demo_project  # noqa: E402
from demo_forge import ALANA, APP_KEY, forge_steps  # noqa: E402
from demo_manifest import manifest_step  # noqa: E402
from demo_oauth import oauth_env, oauth_steps, stop_oauth  # noqa: E402
from demo_serve import serve  # noqa: E402

from django_atlassian_connect.testing.forge import ForgePlatform  # noqa: E402
from django_atlassian_connect.testing.host import ConnectHost  # noqa: E402

GRACE_PERIOD = 4  # seconds; short so the demo can show a retired secret being refused


class StepFailed(Exception):
    pass


class Demo:
    #: --project: your manage.py and settings module instead of the example project's
    project: str | None = None
    project_settings: str | None = None

    def __init__(self, workdir: Path, *, port: int | None = None, verbose: bool = False) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.app_url = f"http://127.0.0.1:{self.port}"
        self.verbose = verbose
        self.host = ConnectHost(product="jira")
        # Forge's side: the same app (app.connect.key = our Connect key), the same
        # site and the same user, so Forge and Connect traffic meet in one tenant.
        self.forge = ForgePlatform(connect_key=APP_KEY)
        self.forge_site: Any = None
        self.server: subprocess.Popen[bytes] | None = None
        self.step_no = 0
        self.started = time.monotonic()

    # -- output ------------------------------------------------------------

    def step(self, title: str, action: Callable[[], str]) -> None:
        self.step_no += 1
        print(f"\n[{self.step_no}] {title}", flush=True)
        try:
            detail = action()
        except StepFailed as exc:
            print(f"    FAILED: {exc}", flush=True)
            raise
        except Exception as exc:
            print(f"    FAILED: {type(exc).__name__}: {exc}", flush=True)
            raise StepFailed(str(exc)) from exc
        for line in detail.splitlines():
            print(f"    {line}", flush=True)

    @staticmethod
    def expect(condition: bool, message: str) -> None:
        if not condition:
            raise StepFailed(message)

    # -- processes -----------------------------------------------------------

    def start(self) -> None:
        self.host.start()
        self.forge.start()
        self.forge.remote_base_url = self.app_url
        self.forge.directory.add_account("Alana Grant", "alana@example.com", account_id=ALANA)
        self.forge_site = self.forge.add_installation("jira", site_url=self.host.base_url)
        env = {
            **os.environ,
            "CONNECT_BASE_URL": self.app_url,
            "CONNECT_INSTALL_KEYS_URL": self.host.keys_url,
            "CONNECT_AUTHORIZATION_SERVER_URL": self.host.url,
            "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
            "CONNECT_AP_JS_URL": self.host.all_js_url,  # the site's AP bridge
            "CONNECT_SECRET_GRACE_PERIOD": str(GRACE_PERIOD),
            "DATABASE_URL": f"sqlite:///{self.workdir / 'demo.sqlite3'}",
            "DJANGO_DEBUG": "1",
            "PYTHONUNBUFFERED": "1",
            "CONNECT_APP_KEY": APP_KEY,
            "CONNECT_FORGE_APP_ID": self.forge.app_id,
            "CONNECT_FORGE_JWKS_URL": self.forge.jwks_url,
            "CONNECT_FORGE_API_HOSTS": ",".join(self.forge.api_hosts),
            **oauth_env(self),  # CONNECT_OAUTH_*, CONNECT_API_URL: the simulated 3LO world
        }
        self.env = env
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("CELERY_BROKER_URL", None)  # eager tasks
        manage = (
            demo_project.manage_command(self, env)
            if self.project
            else [sys.executable, str(HERE / "manage.py")]
        )
        migrate = subprocess.run(
            [*manage, "migrate", "--noinput"], env=env, capture_output=True, text=True
        )
        if migrate.returncode:
            raise StepFailed("migrate failed:\n" + migrate.stderr)
        log = open(self.workdir / "server.log", "wb")
        self.server = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise StepFailed("the example project exited:\n" + self.server_log())
            try:
                requests.get(self.app_url + "/atlassian-connect.json", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise StepFailed("the example project did not start:\n" + self.server_log())

    def server_log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        self.forge.stop()
        stop_oauth(self)
        self.host.stop()

    # -- the story -------------------------------------------------------------

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return requests.get(url, timeout=30, **kwargs)

    def run(self) -> None:
        host = self.host
        print(f"Example app:     {self.app_url}  (SQLite in {self.workdir})")
        print(f"Simulated Jira:  {host.url}  clientKey {host.client_key}")
        print(f"Simulated Forge: JWKS {self.forge.jwks_url}, API gateway {self.forge.gateway_url}")

        def descriptor() -> str:
            d = host.fetch_descriptor(self.app_url + "/atlassian-connect.json")
            self.expect(
                d["apiMigrations"].get("signed-install") is True, "signed-install is not on"
            )
            modules = ", ".join(m["key"] for m in d["modules"].get("generalPages", []))
            return f"key {d['key']}, scopes {' '.join(d['scopes'])}\npages: {modules}; lifecycle: {', '.join(d['lifecycle'])}"

        self.step("Fetch the app descriptor", descriptor)

        self.step(
            "Generate the Forge manifest.yml of the app (Connect-on-Forge)",
            lambda: manifest_step(self.workdir, self.env, self.expect),
        )

        def install() -> str:
            response = host.install(installation_id=self.forge_site.id)
            self.expect(response.status_code == 204, f"installed answered {response.status_code}")
            forged = requests.post(
                self.app_url + "/installed",
                json={**host.payload("installed", "attacker-secret")},
                timeout=30,
            )
            self.expect(
                forged.status_code == 401, f"an unsigned install answered {forged.status_code}"
            )
            return (
                f"signed install (RS256, kid {host.key.kid[:8]}…) accepted: 204\n"
                f"it carries the Forge installationId {self.forge_site.id}\n"
                f"an unsigned install with the same clientKey refused: 401 {forged.json()['code']}"
            )

        self.step("Install the app (signed install)", install)

        def hello() -> str:
            response = self.get(host.page_url("hello", account_id=ALANA))
            self.expect(
                response.status_code == 200,
                f"/hello answered {response.status_code}: {response.text[:300]}",
            )
            self.expect(
                host.client_key in response.text and ALANA in response.text,
                "the page does not show the tenant and user",
            )
            return f"GET /hello with an iframe JWT (qsh of the page URL): 200, shows clientKey and accountId\nframe-ancestors: {response.headers.get('Content-Security-Policy')}"

        self.step("Load the /hello page as a Jira user would", hello)

        def api_me() -> str:
            token = host.context_token(ALANA)
            response = self.get(self.app_url + "/api/me", headers={"Authorization": f"JWT {token}"})
            self.expect(
                response.status_code == 200,
                f"/api/me answered {response.status_code}: {response.text}",
            )
            self.expect(
                response.json() == {"clientKey": host.client_key, "accountId": ALANA},
                f"unexpected {response.json()}",
            )
            iframe_token = host.request_token("GET", "/hello", account_id=ALANA)
            wrong = self.get(
                self.app_url + "/api/me", headers={"Authorization": f"JWT {iframe_token}"}
            )
            self.expect(
                wrong.status_code == 401, "an iframe token was accepted by a context-only API"
            )
            return f"GET /api/me with a context token: {response.json()}\nthe same call with an iframe token: 401 {wrong.json()['code']}"

        self.step("Call /api/me with a context token (AP.context.getToken())", api_me)

        def webhook() -> str:
            response = host.send_webhook(
                "jira:issue_created", {"issue": {"key": "DEMO-42", "fields": {"summary": "Demo"}}}
            )
            return f"POST /webhooks/issue-created (jira:issue_created, DEMO-42): {response.status_code}"

        self.step("Deliver a webhook", webhook)

        def product_calls(label: str) -> Callable[[], str]:
            def run() -> str:
                grants_before = host.grants
                response = self.get(host.page_url("product", account_id=ALANA, format="json"))
                self.expect(
                    response.status_code == 200,
                    f"/product answered {response.status_code}: {response.text[:300]}",
                )
                calls = response.json()["calls"]
                failed = [c for c in calls if not c["ok"]]
                self.expect(not failed, f"{failed}")
                app, user = calls
                self.expect(
                    app["body"]["accountType"] == "app", "the app call did not act as the app"
                )
                self.expect(
                    user["body"]["accountId"] == ALANA, "the user call did not act as the user"
                )
                recent = [e for e in host.log if e.get("path") == "/rest/api/3/myself"][-2:]
                return (
                    f"{label}\nas the app:  GET /rest/api/3/myself -> {app['status']} {app['body']['displayName']} (Authorization: {recent[0]['auth']} with iss = app key)\n"
                    f"as the user: GET /rest/api/3/myself -> {user['status']} {user['body']['displayName']} (Authorization: {recent[1]['auth']}, "
                    f"{host.grants - grants_before} new impersonation grant(s))"
                )

            return run

        self.step(
            "Call the product as the app and as the user",
            product_calls("via the app's /product page"),
        )

        forge_steps(self)
        oauth_steps(self)

        old_secret = host.shared_secret
        old_token = host.request_token("GET", "/hello", account_id=ALANA, secret=old_secret)

        def rotate() -> str:
            response = host.install(rotate_secret=True)
            self.expect(response.status_code == 204, f"reinstall answered {response.status_code}")
            self.expect(host.shared_secret != old_secret, "the secret did not change")
            return (
                "reinstall with a new sharedSecret: 204; the old secret is retired, kept in the history\n"
                + product_calls("calls after the rotation:")()
            )

        self.step("Rotate the shared secret by reinstalling; calls still succeed", rotate)

        def old_token_step() -> str:
            inside = self.get(self.app_url + "/hello", params={"jwt": old_token})
            self.expect(
                inside.status_code == 200,
                f"within the grace period the old token answered {inside.status_code}",
            )
            time.sleep(GRACE_PERIOD + 1.5)
            outside = self.get(self.app_url + "/hello", params={"jwt": old_token})
            body = (
                outside.json()
                if outside.headers.get("Content-Type", "").startswith("application/json")
                else {}
            )
            self.expect(
                outside.status_code == 401 and body.get("code") == "secret_retired",
                f"got {outside.status_code} {outside.text[:300]}",
            )
            return (
                f"within the {GRACE_PERIOD} s grace period: 200 (iframes opened before the rotation keep working)\n"
                f"after it: 401 {body['code']}: {body['detail']}"
            )

        self.step("A token signed with the old secret", old_token_step)

        def uninstall() -> str:
            response = host.uninstall()
            self.expect(response.status_code == 204, f"uninstalled answered {response.status_code}")
            token = host.request_token("GET", "/hello", account_id=ALANA)
            after = self.get(self.app_url + "/hello", params={"jwt": token})
            self.expect(
                after.status_code == 401 and after.json()["code"] == "tenant_uninstalled",
                f"got {after.status_code}",
            )
            return f"uninstalled: 204 (soft delete: history kept)\na page token afterwards: 401 {after.json()['code']}"

        self.step("Uninstall", uninstall)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--serve", action="store_true", help="install, then leave the app and the site running"
    )
    parser.add_argument("--port", type=int, help="port of the example app (default: a free one)")
    demo_project.add_arguments(parser)
    args = parser.parse_args()
    demo_project.check(parser, args)
    # SIGTERM (a service manager, `kill`, a test) unwinds like Ctrl-C, so the
    # `finally` below stops runserver and the site instead of orphaning them.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="connect-demo-") as tmp:
        demo = Demo(Path(tmp), port=args.port)
        demo.project, demo.project_settings = args.project, args.project_settings
        try:
            demo.start()
            if args.serve:
                serve(demo)
                return 0
            demo.run()
        except StepFailed:
            log = demo.server_log()
            if log:
                print(
                    "\n--- example project log (last lines) ---\n"
                    + "\n".join(log.splitlines()[-30:])
                )
            print("\nDEMO FAILED")
            return 1
        except KeyboardInterrupt:
            print("\nInterrupted; stopping the example project and the site.", flush=True)
            return 130
        finally:
            demo.stop()
    print(
        f"\nAll {demo.step_no} steps behaved as expected in {time.monotonic() - demo.started:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
