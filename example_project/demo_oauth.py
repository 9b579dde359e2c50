"""The OAuth 2.0 (3LO) part of ``make demo``: see ``demo.py``.

The demo's example project runs with ``CONNECT_OAUTH_*`` and ``CONNECT_API_URL``
pointing at a simulated Atlassian authorization server and API gateway
(:class:`~django_atlassian_connect.testing.oauth.OAuthServer`) whose one site
has the Forge installation's cloudId. The step then does what a person does
in a browser: log in to Django, link the Atlassian account, call Jira.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from demo_forge import ALANA

from django_atlassian_connect.testing.oauth import OAuthServer

HERE = Path(__file__).resolve().parent
USERNAME = "dana"
PASSWORD = "dana-demo-password"  # a demo user on a throwaway database

#: Reads where the linked site points, then makes the access token look an hour old.
SITE_AND_EXPIRE = """
import json
from datetime import timedelta
from django.utils import timezone
from django_atlassian_connect.models import OAuthGrant, OAuthSite
site = OAuthSite.objects.get(grant__user__username={username!r})
print(json.dumps({{
    "tenant": site.tenant.client_key if site.tenant else None,
    "installation": site.forge_installation.installation_id if site.forge_installation else None,
}}))
OAuthGrant.objects.filter(pk=site.grant_id).update(access_expires_at=timezone.now() - timedelta(seconds=1))
"""


def oauth_env(demo: Any) -> dict[str, str]:
    """Start the simulated 3LO world (after the Forge site exists); the app's environment."""
    server = OAuthServer()
    server.start()
    demo.oauth = server
    server.add_account("Alana Grant", "alana@example.com", account_id=ALANA)
    server.add_site("Demo Jira", demo.host.base_url, cloud_id=demo.forge_site.cloud_id)
    return server.env()


def stop_oauth(demo: Any) -> None:
    server = getattr(demo, "oauth", None)
    if server is not None:
        server.stop()


def _manage(demo: Any, code: str) -> str:
    result = subprocess.run(
        [sys.executable, str(HERE / "manage.py"), "shell", "-c", code],
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    demo.expect(result.returncode == 0, f"manage.py shell failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _login(demo: Any) -> requests.Session:
    _manage(
        demo,
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    browser = requests.Session()
    browser.get(demo.app_url + "/accounts/login/", timeout=30)
    response = browser.post(
        demo.app_url + "/accounts/login/",
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
        },
        allow_redirects=False,
        timeout=30,
    )
    demo.expect(response.status_code == 302, f"login answered {response.status_code}")
    return browser


def oauth_steps(demo: Any) -> None:
    """The 3LO step of the story, numbered and printed by ``demo.step``."""
    server: OAuthServer = demo.oauth

    def link_and_call() -> str:
        browser = _login(demo)
        start = browser.get(demo.app_url + "/oauth/connect", allow_redirects=False, timeout=30)
        demo.expect(start.status_code == 302, f"/oauth/connect answered {start.status_code}")
        query = server.query_of(start.headers["Location"])
        demo.expect(
            query.get("redirect_uri") == demo.app_url + "/oauth/callback"
            and "offline_access" in query.get("scope", "").split(),
            f"unexpected authorize parameters {query}",
        )
        callback = server.consent_redirect(start.headers["Location"])
        linked = browser.get(callback, allow_redirects=False, timeout=30)
        demo.expect(
            linked.status_code == 302 and linked.headers.get("Location") == "/oauth/resources",
            f"/oauth/callback answered {linked.status_code}: {linked.text[:300]}",
        )
        resources = browser.get(demo.app_url + "/oauth/resources", timeout=30).json()["resources"]
        demo.expect(len(resources) == 1, f"unexpected resources {resources}")
        cloud_id = resources[0]["id"]

        def myself() -> requests.Response:
            return browser.get(
                demo.app_url + "/oauth/myself", params={"cloudId": cloud_id}, timeout=60
            )

        first = myself()
        demo.expect(first.status_code == 200, f"/oauth/myself answered {first.text[:300]}")
        body = first.json()
        demo.expect(body["accountId"] == ALANA, f"acted as {body}")
        links = json.loads(_manage(demo, SITE_AND_EXPIRE.format(username=USERNAME)))
        demo.expect(links["tenant"] == demo.host.client_key, f"site links {links}")
        server.expire_access_tokens()  # an hour later: the gateway refuses the old token too
        later = myself()
        demo.expect(later.status_code == 200, f"after expiry /oauth/myself: {later.text[:300]}")
        counters = server.counters
        demo.expect(counters["refresh_requests"] == 1, f"refreshes: {dict(counters)}")
        replay = browser.get(callback, allow_redirects=False, timeout=30)
        demo.expect(replay.status_code == 400, f"a replayed callback answered {replay.status_code}")
        return "\n".join(
            [
                f'Django user "{USERNAME}" logged in at /accounts/login/',
                f"GET /oauth/connect: 302 to {urlsplit(server.auth_url).netloc}/authorize "
                f"(audience={query['audience']}, scope {query['scope']}, prompt=consent, "
                "state bound to the session)",
                f"consent given; GET /oauth/callback?code=…&state=…: {linked.status_code} "
                f"{linked.headers['Location']} (state checked once, code exchanged, tokens "
                "stored encrypted)",
                f"GET /oauth/resources: {json.dumps({'resources': resources})}",
                f"the site is linked by cloudId to the Connect tenant {links['tenant']} and the "
                f"Forge installation {links['installation']}",
                f"GET /oauth/myself?cloudId=…: {first.status_code} {body['displayName']} "
                f"(GET {{API_URL}}/ex/jira/{cloud_id}/rest/api/3/myself with the user's token)",
                f"an hour later, the access token expired: {later.status_code} again after "
                f"{counters['refresh_requests']} refresh (rotated refresh token committed "
                "before use)",
                f"the same callback again (replayed state): {replay.status_code}, nothing stored",
            ]
        )

    demo.step("3LO: a Django user links an Atlassian account and calls Jira with it", link_and_call)
