"""The Forge Remote (Connect-on-Forge) part of ``make demo``: see ``demo.py``.

The demo's example project runs with ``CONNECT_FORGE_*`` pointing at a
simulated Forge platform (JWKS and API gateway) whose ``remote_base_url`` is
the example project, and the simulated Jira site's signed install carries
the Forge installation's id. These steps then drive it as Forge would.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: The same user on both sides (Connect's accountId, Forge's principal).
ALANA = "5b10ac8d82e05b22cc7d4ef5"
APP_KEY = os.environ.get("CONNECT_APP_KEY", "com.example.django-connect-demo")


def forge_steps(demo: Any) -> None:
    """The Forge steps of the story, numbered and printed by ``demo.step``."""
    forge, inst = demo.forge, demo.forge_site

    def lifecycle() -> str:
        attempts = forge.deliver_lifecycle("avi:forge:installed:app", inst, retries=0)
        status = attempts[-1].status
        demo.expect(status == 204, f"/forge/lifecycle answered {status}")
        tokens = [c for c in forge.sent if c["path"] == "/forge/lifecycle"][-1]["headers"]
        return (
            f"POST /forge/lifecycle (avi:forge:installed:app, id {inst.uuid}): {status}\n"
            f"headers: {', '.join(tokens)} (FIT verified; the app system token stored)"
        )

    demo.step("Forge: a lifecycle event (avi:forge:installed:app)", lifecycle)

    def me() -> str:
        response = forge.invoke("/forge/me", "GET", installation=inst, account_id=ALANA)
        demo.expect(
            response.status_code == 200,
            f"/forge/me answered {response.status_code}: {response.text[:300]}",
        )
        body = response.json()
        demo.expect(
            body["clientKey"] == demo.host.client_key and body["accountId"] == ALANA,
            f"unexpected {body}",
        )
        return (
            f"GET /forge/me (invokeRemote from a Jira issue panel): {body}\n"
            "the Forge installation maps to the Connect tenant that signed the install"
        )

    demo.step("Forge: a UI invocation maps to the same Connect tenant", me)

    def myself() -> str:
        lines = []
        for mode, expected in (("app", "app"), ("user", "atlassian")):
            response = forge.invoke(
                f"/forge/myself?as={mode}", "GET", installation=inst, account_id=ALANA
            )
            demo.expect(
                response.status_code == 200,
                f"/forge/myself?as={mode} answered {response.status_code}: {response.text[:300]}",
            )
            body = response.json()
            demo.expect(body["accountType"] == expected, f"as={mode} acted as {body}")
            if mode == "user":
                demo.expect(body["accountId"] == ALANA, f"as=user acted as {body}")
            call = [c for c in forge.gateway.log if c["path"].endswith("/myself")][-1]
            lines.append(
                f"as the {mode}:{' ' * (5 - len(mode))}GET {{apiBaseUrl}}/rest/api/3/myself "
                f"-> {call['status']} {body['displayName']} ({call['token_kind']} token)"
            )
        return "\n".join(["via GET /forge/myself?as=app|user, through the API gateway", *lines])

    demo.step("Forge: call Jira through the API gateway as the app and as the user", myself)

    def expired() -> str:
        # Issued 90 s ago, so 65 s past its 25 s life: beyond the 30 s leeway.
        issued = int(time.time()) - 90
        fit = forge.mint_fit(
            inst,
            account_id=ALANA,
            overrides={"iat": issued, "nbf": issued, "exp": issued + 25},
        )
        response = demo.get(demo.app_url + "/forge/me", headers={"Authorization": f"Bearer {fit}"})
        body = response.json() if response.status_code < 500 else {}
        demo.expect(
            response.status_code == 401 and body.get("code") == "token_expired",
            f"got {response.status_code} {response.text[:300]}",
        )
        return (
            f"GET /forge/me with a FIT that expired: 401 {body['code']}: {body['detail']}\n"
            f"WWW-Authenticate: {response.headers['WWW-Authenticate'].split(', error_description')[0]}"
        )

    demo.step("Forge: an expired Forge Invocation Token", expired)
