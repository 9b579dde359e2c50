"""Secret hygiene: no shared secret, access token or whole JWT anywhere it could leak.

The example project runs with every logger at DEBUG (SQL with its parameters
included, ``DJANGO_DEBUG=1``) against a simulated site. The test drives every
flow: signed install, iframe page, context API, webhook, calls to the product
as the app and as a user, secret rotation and the grace period, refusals of
every kind, outbound errors (429, token endpoint failure, a stale secret),
housekeeping, uninstall. Then it looks for each secret, each access token and
any JWT-shaped string in:

- the server's whole log (access log included),
- every response body the app sent (errors and exception messages included),
- ``repr()`` and ``str()`` of every model instance and secret-holding object,
- the admin pages of tenants and lifecycle events,
- a dump of the database (which holds only ciphertext).

Failures name what leaked and where, never the value.
"""

from __future__ import annotations

import secrets as pysecrets
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import requests

from django_atlassian_connect.testing.host import ConnectHost, SecretRecord
from tests.e2e.conftest import MANAGE
from tests.security.support import leaks

pytestmark = [pytest.mark.e2e, pytest.mark.security]

APP_KEY = "com.example.django-connect-demo"
USER = "5b10ac8d82e05b22cc7d4ef5"

REPR_CODE = """
from django_atlassian_connect.connect.client import ConnectClient, current_secret
from django_atlassian_connect.connect.inbound import secret_candidates
from django_atlassian_connect.models import AccessToken, LifecycleEvent, SharedSecret, get_tenant_model
for model in (get_tenant_model(), SharedSecret, AccessToken, LifecycleEvent):
    for row in model._default_manager.all():
        print(repr(row)); print(str(row))
for tenant in get_tenant_model()._default_manager.all():
    print(repr(ConnectClient(tenant)))
    print(repr(secret_candidates(tenant)))
    try:
        print(repr(current_secret(tenant)))
    except Exception as exc:
        print(repr(exc), str(exc))
for row in SharedSecret.objects.all():
    print(repr(row.secret))  # the decrypted value's repr is masked
for row in AccessToken.objects.exclude(token=None):
    print(repr(row.token))
print("REPR-DONE")
"""

ADMIN_CODE = """
import os
from django.contrib.auth.models import User
User.objects.create_superuser("auditor", "auditor@example.com", os.environ["DAC_ADMIN_PASSWORD"])
"""


@pytest.fixture(scope="module")
def hygiene(app_factory):
    with ConnectHost() as host:
        running = app_factory(
            "hygiene",
            host.keys_url,
            CONNECT_AUTHORIZATION_SERVER_URL=host.url,
            CONNECT_ALLOWED_PRODUCT_HOSTS="*.atlassian.net,127.0.0.1",
            DJANGO_LOG_LEVEL="DEBUG",
            DJANGO_DEBUG="1",
        )
        yield host, running


class _Text:
    """Command output recorded like a response."""

    def __init__(self, text: str) -> None:
        self.text = text


class Recorder:
    """Every response body the app sends back, to search them too."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str]] = []

    def __call__(self, label: str, response: Any) -> Any:
        self.bodies.append((label, response.text))
        return response


def test_no_secret_reaches_logs_errors_reprs_admin_or_the_database(hygiene):
    host, running = hygiene
    app = running.base_url
    seen = Recorder()
    attacker_secrets = {
        "attacker secret of an unsigned install": "ATCO-attacker-" + uuid.uuid4().hex * 2,
        "over-long secret of a refused install": "ATCO-long-" + "x" * 600,
    }

    # 1. signed install, iframe page, context API, webhook
    host.install(app + "/atlassian-connect.json")
    first_secret = host.shared_secret
    response = seen("page", requests.get(host.page_url("hello", account_id=USER), timeout=30))
    assert response.status_code == 200 and host.client_key in response.text
    response = seen(
        "api/me",
        requests.get(
            app + "/api/me",
            headers={"Authorization": f"JWT {host.context_token(USER)}"},
            timeout=30,
        ),
    )
    assert response.json()["accountId"] == USER
    assert host.send_webhook("jira:issue_created", {"issue": {"key": "DEMO-7"}}).status_code == 200

    # 2. outbound as the app and as the user (JWT-bearer grant, bearer token)
    response = seen(
        "product",
        requests.get(host.page_url("product", account_id=USER, format="json"), timeout=60),
    )
    calls = {call["label"]: call for call in response.json()["calls"]}
    assert calls["as the app"]["ok"] and calls["as the user"]["ok"], calls
    assert host.issued, "an access token was issued"

    # 3. rotation; a page token signed with the retired secret within the grace period
    host.install(rotate_secret=True)
    old_token = host.request_token("GET", "/hello", account_id=USER, secret=first_secret)
    response = seen(
        "page with retired secret", requests.get(app + "/hello?jwt=" + old_token, timeout=30)
    )
    assert response.status_code == 200

    # 4. refusals of every kind
    refusals = {
        "wrong secret": requests.get(
            app + "/hello",
            params={"jwt": host.request_token("GET", "/hello", secret="ATCO-wrong-" + "w" * 40)},
            timeout=30,
        ),
        "expired": requests.get(
            app + "/hello",
            params={"jwt": host.request_token("GET", "/hello", now=time.time() - 3600)},
            timeout=30,
        ),
        "qsh mismatch": requests.get(
            app + "/hello?a=1",
            params={"jwt": host.request_token("GET", "/hello?a=2", account_id=USER)},
            timeout=30,
        ),
        "context token on a page": requests.get(
            app + "/hello", params={"jwt": host.context_token(USER)}, timeout=30
        ),
        "two tokens": requests.get(
            app + "/hello",
            params={"jwt": host.context_token(USER)},
            headers={"Authorization": f"JWT {host.request_token('GET', '/hello')}"},
            timeout=30,
        ),
        "unsigned install": requests.post(
            app + "/installed",
            json={
                **host.payload("installed"),
                "sharedSecret": attacker_secrets["attacker secret of an unsigned install"],
            },
            timeout=30,
        ),
        "over-long secret": requests.post(
            app + "/installed",
            json={
                **host.payload("installed"),
                "sharedSecret": attacker_secrets["over-long secret of a refused install"],
            },
            headers={"Authorization": f"JWT {host.install_token('/installed')}"},
            timeout=30,
        ),
    }
    for label, response in refusals.items():
        seen(label, response)
        assert response.status_code == 401, (label, response.status_code)

    # 5. outbound errors: token endpoint failure, a secret the app never got, a rate limit
    host.fail_token_endpoint = [500]
    running.db.execute("DELETE FROM django_atlassian_connect_accesstoken")
    response = seen(
        "token endpoint failure",
        requests.get(host.page_url("product", account_id=USER, format="json"), timeout=60),
    )
    calls = {call["label"]: call for call in response.json()["calls"]}
    assert calls["as the app"]["ok"] and not calls["as the user"]["ok"], calls
    # The site rotated its secret but the 'installed' callback never reached the
    # app: the app's calls (signed with the secret it has) are refused.
    app_secret = host.shared_secret
    stale_site_secret = "ATCO-site-only-" + uuid.uuid4().hex
    host.secrets[-1].retired_at = time.time()
    host.secrets.append(SecretRecord(stale_site_secret, time.time()))
    token = host.request_token("GET", "/product?format=json", account_id=USER, secret=app_secret)
    response = seen(
        "stale secret", requests.get(f"{app}/product?format=json&jwt={token}", timeout=60)
    )
    calls = {call["label"]: call for call in response.json()["calls"]}
    assert "stale" in calls["as the app"]["detail"], calls
    assert not calls["as the user"]["ok"], calls
    housekeeping = running.manage("connect_housekeeping", "verify_installations")
    assert housekeeping.returncode == 0, housekeeping.stderr[-1000:]
    assert '"unauthorized": 1' in housekeeping.stdout
    seen("housekeeping output", _Text(housekeeping.stdout + housekeeping.stderr))
    host.secrets.pop()
    host.secrets[-1].retired_at = None
    # Last: after a 429 the app holds back every call to the site (Retry-After 3600 s).
    host.rate_limit = [3600]
    response = seen(
        "product errors",
        requests.get(host.page_url("product", account_id=USER, format="json"), timeout=60),
    )
    calls = {call["label"]: call for call in response.json()["calls"]}
    assert not calls["as the app"]["ok"] and not calls["as the user"]["ok"], calls

    # 6. uninstall; a token afterwards
    host.uninstall()
    response = seen(
        "after uninstall",
        requests.get(
            app + "/hello", params={"jwt": host.request_token("GET", "/hello")}, timeout=30
        ),
    )
    assert response.status_code == 401

    # 7. reprs, the admin, the database
    reprs = running.shell(REPR_CODE)
    assert "REPR-DONE" in reprs
    password = pysecrets.token_urlsafe(24)
    created = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "-c", ADMIN_CODE],
        env={**running.env, "DAC_ADMIN_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr[-1000:]
    admin_pages = admin_html(app, password, running)
    dump = running.db.dump()
    log = running.log()

    # What must never appear.
    secrets = {f"shared secret #{i}": record.secret for i, record in enumerate(host.secrets)}
    secrets["the site's secret the app never got"] = stale_site_secret
    secrets.update(attacker_secrets)
    secrets.update({f"access token #{i}": token for i, token in enumerate(host.issued)})
    assert first_secret in secrets.values() and len(host.secrets) >= 2
    places = {
        "the server log": log,
        "repr()/str() of the models": reprs,
        "the database dump": dump,
        **{f"the {label} response": body for label, body in seen.bodies},
        **{f"admin page {url}": html for url, html in admin_pages.items()},
    }
    found = {where: leaks(text, secrets) for where, text in places.items()}
    found = {where: what for where, what in found.items() if what}
    assert found == {}, f"leaked: {found}"

    # The checks looked at real material: DEBUG logging, SQL, access log, admin.
    assert " DEBUG " in log and "django.db.backends" in log
    assert "jwt=[redacted]" in log  # the access log line of the iframe request
    assert "secret sha256:" in log  # fingerprints name secrets instead
    assert "sharedsecret" in dump.lower()
    assert any("sha256:" in html for html in admin_pages.values())


def admin_html(app: str, password: str, running: Any) -> dict[str, str]:
    session = requests.Session()
    login = session.get(app + "/admin/login/", timeout=30)
    assert login.status_code == 200
    response = session.post(
        app + "/admin/login/?next=/admin/",
        data={
            "username": "auditor",
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": app + "/admin/login/"},
        timeout=30,
    )
    assert response.status_code == 200 and "Log out" in response.text, response.text[:300]
    urls = [
        "/admin/django_atlassian_connect/",
        "/admin/django_atlassian_connect/tenant/",
        "/admin/django_atlassian_connect/lifecycleevent/",
    ]
    urls += [
        f"/admin/django_atlassian_connect/tenant/{row[0]}/change/"
        for row in running.db.rows("SELECT id FROM django_atlassian_connect_tenant")
    ]
    urls += [
        f"/admin/django_atlassian_connect/lifecycleevent/{row[0]}/change/"
        for row in running.db.rows("SELECT id FROM django_atlassian_connect_lifecycleevent")
    ]
    pages = {}
    for url in urls:
        page = session.get(app + url, timeout=30)
        assert page.status_code == 200, (url, page.status_code)
        pages[url] = page.text
    return pages


@pytest.mark.parametrize(
    "line",
    [
        '"GET /hello?xdm_e=x&jwt=eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln HTTP/1.1" 200',
        "Authorization: JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
        "Authorization: Bearer 0123456789abcdefghijklmnop",
    ],
)
def test_redaction_filter(line):
    import logging

    from django_atlassian_connect.redaction import RedactTokensFilter

    record = logging.LogRecord("django.server", logging.INFO, __file__, 1, "%s", (line,), None)
    assert RedactTokensFilter().filter(record) is True
    message = record.getMessage()
    assert "[redacted]" in message
    assert "eyJ" not in message and "0123456789abcdef" not in message
