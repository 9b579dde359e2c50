"""Forge Remote entry points: the decorator, the DRF class, the lifecycle and scheduled views.

Real FITs from the simulated Forge platform (``forge_host``, ``forge_client``)
through Django's test client. Every refusal is checked to write nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import include, path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect import signals
from django_atlassian_connect.authentication import (
    ConnectJWTAuthentication,
    ForgeInvocationAuthentication,
)
from django_atlassian_connect.decorators import forge_invocation_required
from django_atlassian_connect.forge import jwks
from django_atlassian_connect.forge.context import ForgeContext
from django_atlassian_connect.forge.events import ForgeLifecycleEvent
from django_atlassian_connect.forge.installations import stored_system_token
from django_atlassian_connect.forge.principal import ForgePrincipal
from django_atlassian_connect.forge.views import ForgeLifecycleView, ForgeScheduledView
from django_atlassian_connect.models import ForgeInstallation
from django_atlassian_connect.permissions import IsForgeInvocation
from django_atlassian_connect.testing.forge.delivery import lifecycle_body
from tests.conftest import assert_refused

pytestmark = pytest.mark.urls(__name__)

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"


# -- views under test ----------------------------------------------------------------------------


class ForgeMe(APIView):
    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsForgeInvocation]

    def get(self, request):
        context: ForgeContext = request.auth
        tenant = request.user.installation.tenant
        return Response(
            {
                "installationId": context.installation_id,
                "cloudId": context.cloud_id,
                "accountId": request.user.account_id,
                "isApp": request.user.is_app,
                "clientKey": tenant.client_key if tenant else None,
                "environmentType": context.environment_type,
                "sameInstallation": request._request.forge_installation.pk
                == request.user.installation.pk,
            }
        )

    def post(self, request):
        return Response({"data": request.data, "accountId": request.user.account_id})


class EitherToken(APIView):
    """Connect JWTs or Forge FITs: each class leaves the other's scheme alone."""

    authentication_classes = [ConnectJWTAuthentication, ForgeInvocationAuthentication]
    permission_classes = [IsForgeInvocation]

    def get(self, request):
        return Response({"user": repr(request.user)})


def _describe(request: HttpRequest, **extra: Any) -> JsonResponse:
    return JsonResponse(
        {
            "installationId": request.forge.installation_id,
            "accountId": request.forge.principal,
            "row": request.forge_installation.installation_id,
            **extra,
        }
    )


@forge_invocation_required
def plain(request: HttpRequest) -> JsonResponse:
    return _describe(request, method=request.method)


@forge_invocation_required
async def plain_async(request: HttpRequest) -> JsonResponse:
    return _describe(request, is_async=True)


@require_GET
@forge_invocation_required
def stacked_outside(request: HttpRequest) -> JsonResponse:
    return _describe(request)


@forge_invocation_required
@never_cache
@require_GET
def stacked_inside(request: HttpRequest) -> JsonResponse:
    return _describe(request)


urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
    path("forge/me", ForgeMe.as_view()),
    path("forge/either", EitherToken.as_view()),
    path("forge/plain", plain),
    path("forge/async", plain_async),
    path("forge/stacked-outside", stacked_outside),
    path("forge/stacked-inside", stacked_inside),
]


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_jwks():
    jwks.clear_memory_cache()
    yield
    jwks.clear_memory_cache()


@pytest.fixture
def committed(transactional_db):
    """Real commits (no test transaction around the test): on_commit callbacks, the
    signals, run when the request's work commits, as in production."""


class Received:
    """Every send of some signals, as ``(signal name, kwargs)``."""

    def __init__(self, *names: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._receivers = []
        for name in names:

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                self.calls.append((_name, {"sender": sender, **kwargs}))

            getattr(signals, name).connect(receiver, weak=False)
            self._receivers.append((name, receiver))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, kwargs in self.calls if n == name]

    def disconnect(self) -> None:
        for name, receiver in self._receivers:
            getattr(signals, name).disconnect(receiver)


@pytest.fixture
def received():
    recorder = Received("forge_invoked", "forge_installed", "forge_upgraded")
    yield recorder
    recorder.disconnect()


def snapshot() -> list[tuple[Any, ...]]:
    """Every Forge installation row with its token state: proves a refusal wrote nothing."""
    return sorted(
        (
            row.installation_id,
            str(row.last_seen_at),
            row.system_token_fingerprint,
            str(row.system_token_expires_at),
        )
        for row in ForgeInstallation.objects.all()
    )


def event_headers(forge_host, *, fit: str | None = None, module_key="forge-lifecycle-trigger"):
    headers = forge_host.invocation_headers(kind="event", module_key=module_key, fit=fit)
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}


def post_event(client: Client, forge_host, body: Any, **kwargs: Any):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        "/forge/lifecycle",
        data,
        content_type="application/json",
        **event_headers(forge_host, **kwargs),
    )


def installed_body(forge_host, event: str = INSTALLED, **changes: Any) -> dict[str, Any]:
    body = lifecycle_body(event, forge_host.installation(), forge_host.directory)
    body.update(changes)
    return body


def assert_bearer_refusal(response, code: str, status: int = 401) -> dict[str, Any]:
    return assert_refused(response, code, status, scheme="Bearer")


# -- the user's three lines ----------------------------------------------------------------------


def test_me(forge_client):
    response = forge_client.get("/forge/me")
    assert response.json()["accountId"] == forge_client.account_id


# -- DRF -----------------------------------------------------------------------------------------


def test_drf_sets_the_principal_and_the_context(forge_client, forge_host):
    body = forge_client.get("/forge/me").json()
    installation = forge_host.installation()
    assert body == {
        "installationId": installation.id,
        "cloudId": installation.cloud_id,
        "accountId": forge_client.account_id,
        "isApp": False,
        "clientKey": None,
        "environmentType": "PRODUCTION",
        "sameInstallation": True,
    }
    row = ForgeInstallation.objects.get(installation_id=installation.id)
    assert row.cloud_id == installation.cloud_id
    assert stored_system_token(row) == forge_host.current_system_token()


@pytest.mark.parametrize("connect_first", [True, False], ids=["connect-first", "forge-first"])
def test_me_names_the_connect_tenant_of_a_signed_install(
    forge_client, forge_host, site, connect_first
):
    installation_id = forge_host.installation().id
    if not connect_first:
        assert forge_client.get("/forge/me").json()["clientKey"] is None
    assert site.install(installationId=installation_id).status_code == 204
    assert forge_client.get("/forge/me").json()["clientKey"] == site.client_key


def test_drf_without_a_user_is_the_app(forge_client):
    body = forge_client.as_app().get("/forge/me").json()
    assert body["accountId"] is None and body["isApp"] is True


def test_drf_post_reads_the_body(forge_client):
    response = forge_client.post("/forge/me", json={"x": 1})
    assert response.json() == {"data": {"x": 1}, "accountId": forge_client.account_id}


def test_drf_without_a_token_is_token_missing(client, forge_host, db):
    response = client.get("/forge/me")
    assert_bearer_refusal(response, "token_missing")
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer", "token_malformed"),
        ("Bearer a.b", "token_malformed"),
        ("bearer  two  spaces", "token_malformed"),
    ],
)
def test_drf_a_broken_bearer_is_ours_and_refused(client, forge_host, db, header, code):
    response = client.get("/forge/me", HTTP_AUTHORIZATION=header)
    assert_bearer_refusal(response, code)
    assert ForgeInstallation.objects.count() == 0


def test_drf_refusals_write_nothing(forge_client, forge_host):
    forge_client.get("/forge/me")  # a row exists, with a token
    before = snapshot()
    assert len(before) == 1
    expired = forge_host.mint_fit(overrides={"exp": 1, "iat": 0, "nbf": 0})
    other_app = forge_host.mint_fit(overrides={"aud": "ari:cloud:ecosystem::app/" + "0" * 36})
    for fit, code in ((expired, "token_expired"), (other_app, "audience_invalid")):
        response = forge_client.get("/forge/me", fit=fit)
        assert_bearer_refusal(response, code)
    assert snapshot() == before


def test_drf_key_unavailable_is_503_with_retry_after_and_writes_nothing(forge_client, forge_host):
    cache.clear()
    forge_host.jwks.fault = "down"
    try:
        response = forge_client.get("/forge/me")
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_drf_leaves_other_schemes_to_other_classes(client, forge_client, db):
    # A Connect JWT header is not the Forge class's: it returns None, the Connect one refuses.
    response = client.get("/forge/either", HTTP_AUTHORIZATION="JWT not-a-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("JWT realm=")
    # A FIT is not the Connect class's: the Forge class authenticates it.
    body = forge_client.get("/forge/either").json()
    assert body["user"].startswith(f"<ForgePrincipal '{forge_client.account_id}' of ")


def test_drf_class_declares_forge():
    assert ForgeInvocationAuthentication.connect_token_kind == "forge"
    assert ForgeInvocationAuthentication().get_raw_token(HttpRequest()) is None


# -- the decorator -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_sets_request_forge(forge_client, forge_host, url):
    body = forge_client.get(url).json()
    assert body["installationId"] == body["row"] == forge_host.installation().id
    assert body["accountId"] == forge_client.account_id
    assert body.get("is_async", False) is (url == "/forge/async")


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_refusals_write_nothing(client, forge_client, forge_host, url):
    expired = forge_host.mint_fit(overrides={"exp": 1, "iat": 0, "nbf": 0})
    assert_bearer_refusal(forge_client.get(url, fit=expired), "token_expired")
    assert_bearer_refusal(client.get(url), "token_missing")
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/plain", "/forge/async"])
def test_decorator_key_unavailable(forge_client, forge_host, url):
    cache.clear()
    forge_host.jwks.fault = "down"
    try:
        response = forge_client.get(url)
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_decorator_is_csrf_exempt(forge_host, forge_client):
    strict = Client(enforce_csrf_checks=True)
    forge_client.django = strict
    assert forge_client.post("/forge/plain", json={}).json()["method"] == "POST"


@pytest.mark.parametrize("view", [plain, plain_async, stacked_outside, stacked_inside])
def test_decorated_views_declare_forge_however_stacked(view):
    assert view.connect_token_kind == "forge"
    assert view.csrf_exempt is True


def test_stacked_decorators_both_work(forge_client):
    for url in ("/forge/stacked-outside", "/forge/stacked-inside"):
        response = forge_client.get(url)
        assert response.status_code == 200
        assert response.json()["accountId"] == forge_client.account_id
        assert response.json()["installationId"] == forge_client.installation.id
        assert forge_client.post(url).status_code == 405


def test_forge_invoked_is_sent_after_commit(forge_client, forge_host, received, committed):
    forge_client.get("/forge/plain")
    forge_client.as_app().get("/forge/me")
    assert received.names() == ["forge_invoked", "forge_invoked"]
    first, second = received.of("forge_invoked")
    assert first["sender"] is ForgeInstallation
    assert first["installation"].installation_id == forge_host.installation().id
    assert first["context"].principal == forge_client.account_id
    assert second["context"].principal is None
    assert first["request"].path == "/forge/plain"


# -- the principal -------------------------------------------------------------------------------


def test_forge_principal_is_safe_to_show(forge_client, forge_host):
    forge_client.get("/forge/me")
    row = ForgeInstallation.objects.get()
    user = ForgePrincipal("557058:abc", row)
    app = ForgePrincipal(None, row)
    assert user.is_authenticated and not user.is_app and not user.is_anonymous
    assert app.is_authenticated and app.is_app and app.account_id is None
    assert str(app) == f"app@{row.installation_id}"
    token = forge_host.current_system_token()
    for text in (repr(user), repr(app), str(user), str(app)):
        assert token not in text
    assert repr(app) == f"<ForgePrincipal app of {row.installation_id!r}>"
    assert user == ForgePrincipal("557058:abc", row) and user != app
    assert len({user, ForgePrincipal("557058:abc", row)}) == 1


# -- POST /forge/lifecycle -----------------------------------------------------------------------


def test_the_urls_are_named():
    assert reverse("atlassian_connect_forge:lifecycle") == "/forge/lifecycle"
    assert reverse("atlassian_connect_forge:scheduled") == "/forge/scheduled"
    assert ForgeLifecycleView.connect_token_kind == ForgeScheduledView.connect_token_kind == "forge"


@pytest.mark.parametrize("wrapped", [False, True], ids=["top-level", "payload"])
def test_installed_is_recorded_and_announced(forge_host, db, received, committed, wrapped):
    (attempt,) = forge_host.deliver_lifecycle(INSTALLED, wrap_in_payload=wrapped)
    assert attempt.status == 204 and attempt.response.content == b""
    installation = forge_host.installation()
    row = ForgeInstallation.objects.get(installation_id=installation.id)
    assert stored_system_token(row) == forge_host.current_system_token()
    assert received.names() == ["forge_invoked", "forge_installed"]
    (sent,) = received.of("forge_installed")
    event: ForgeLifecycleEvent = sent["event"]
    assert sent["installation"].pk == row.pk and sent["sender"] is ForgeInstallation
    assert sent["context"].installation_id == installation.id
    assert event.event_type == INSTALLED and event.installation_id == installation.id
    assert event.site_ari == installation.site_ari
    assert event.account_id == attempt.body.get("payload", attempt.body)["installerAccountId"]
    assert event.app_version == forge_host.directory.app_version
    assert event.retry_count == 0 and not event.is_retry


def test_upgraded_names_the_upgrader(forge_host, db, received, committed):
    upgrader = next(iter(forge_host.accounts))
    (attempt,) = forge_host.deliver_lifecycle(UPGRADED, account_id=upgrader, wrap_in_payload=True)
    assert attempt.status == 204
    (sent,) = received.of("forge_upgraded")
    assert sent["event"].account_id == upgrader
    assert received.of("forge_installed") == []


def test_retries_announce_the_event_once(client, forge_host, db, received, committed):
    body = installed_body(forge_host)
    for count in range(4):
        sent = dict(body)
        if count:
            sent["retryContext"] = {
                "retryData": None,
                "retryCount": count,
                "retryReason": "TIMEOUT_ERROR",
            }
        # Every delivery carries a fresh FIT, wrapped or not.
        response = post_event(client, forge_host, {"payload": sent} if count % 2 else sent)
        assert response.status_code == 204
    assert received.names().count("forge_invoked") == 4
    assert len(received.of("forge_installed")) == 1
    # The next event of the same installation is another event.
    upgraded = installed_body(forge_host, UPGRADED)
    assert post_event(client, forge_host, upgraded).status_code == 204
    assert len(received.of("forge_upgraded")) == 1


def test_a_receiver_that_fails_lets_the_retry_announce(forge_host, db, committed):
    calls: list[int] = []

    def flaky(sender, event, **kwargs):
        calls.append(event.retry_count)
        if len(calls) == 1:
            raise RuntimeError("broker down")

    signals.forge_installed.connect(flaky, weak=False)
    try:
        client = Client(raise_request_exception=False)
        body = installed_body(forge_host)
        assert post_event(client, forge_host, body).status_code == 500
        retry = {**body, "retryContext": {"retryData": None, "retryCount": 1, "retryReason": "x"}}
        assert post_event(client, forge_host, retry).status_code == 204
        assert post_event(client, forge_host, retry).status_code == 204
    finally:
        signals.forge_installed.disconnect(flaky)
    assert calls == [0, 1]


def test_a_body_of_another_installation_is_400_and_writes_nothing(
    client, forge_host, db, received, committed
):
    other = forge_host.add_installation("jira")
    mine = forge_host.installation()
    body = installed_body(forge_host, id=other.uuid)
    response = post_event(client, forge_host, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "payload_invalid"
    assert other.id in answer["detail"] and mine.id in answer["detail"]
    assert answer["bodyInstallationId"] == other.id and answer["installationId"] == mine.id
    assert ForgeInstallation.objects.count() == 0
    assert received.calls == []


def test_the_body_id_may_be_the_ari_or_absent(client, forge_host, db, received, committed):
    body = installed_body(forge_host, id=forge_host.installation().id.upper())
    assert post_event(client, forge_host, body).status_code == 204
    body = installed_body(forge_host, UPGRADED)
    del body["id"]
    assert post_event(client, forge_host, body).status_code == 204
    assert received.names().count("forge_invoked") == 2
    assert len(received.of("forge_installed")) == len(received.of("forge_upgraded")) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b"{}", "no eventType"),
        (json.dumps({"eventType": INSTALLED, "id": "nope"}).encode(), "not a Forge installation"),
    ],
)
def test_unusable_bodies_are_400_and_write_nothing(client, forge_host, db, body, fragment):
    response = post_event(client, forge_host, body)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert response.json()["code"] == "payload_invalid"
    assert ForgeInstallation.objects.count() == 0


def test_unknown_events_are_recorded_and_answered_204(client, forge_host, db, received, committed):
    body = {"eventType": "avi:forge:something-new:app", "id": "not-even-a-uuid"}
    assert post_event(client, forge_host, body).status_code == 204
    assert ForgeInstallation.objects.count() == 1
    assert received.names() == ["forge_invoked"]


def test_lifecycle_refusals_write_nothing(client, forge_host, db, received, committed):
    body = installed_body(forge_host)
    expired = forge_host.mint_fit(kind="event", overrides={"exp": 1, "iat": 0, "nbf": 0})
    assert_bearer_refusal(post_event(client, forge_host, body, fit=expired), "token_expired")
    forged = forge_host.mint_fit(kind="event", kid="forge/invocation-token/unknown")
    assert_bearer_refusal(post_event(client, forge_host, body, fit=forged), "key_invalid")
    response = client.post("/forge/lifecycle", json.dumps(body), content_type="application/json")
    assert_bearer_refusal(response, "token_missing")
    assert ForgeInstallation.objects.count() == 0
    assert received.calls == []


def test_lifecycle_key_unavailable_is_503_so_forge_retries(client, forge_host, db):
    cache.clear()
    forge_host.jwks.fault = "refuse"
    try:
        response = post_event(client, forge_host, installed_body(forge_host))
    finally:
        forge_host.jwks.fault = None
    assert_bearer_refusal(response, "key_unavailable", status=503)
    assert ForgeInstallation.objects.count() == 0


def test_lifecycle_body_size_is_bounded(client, forge_host, db, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "MAX_LIFECYCLE_BODY": 100}
    response = post_event(client, forge_host, installed_body(forge_host))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/lifecycle", "/forge/scheduled"])
@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_post_only(client, forge_host, db, url, method):
    response = getattr(client, method)(url, **event_headers(forge_host))
    assert response.status_code == 405
    assert ForgeInstallation.objects.count() == 0


@pytest.mark.parametrize("url", ["/forge/lifecycle", "/forge/scheduled"])
def test_csrf_exempt_and_never_a_redirect(forge_host, db, settings, url):
    # APPEND_SLASH (on by default) never touches a path that matches; the
    # recommended SECURE_REDIRECT_EXEMPT keeps SECURE_SSL_REDIRECT off these paths.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^forge/"]
    strict = Client(enforce_csrf_checks=True)
    body = json.dumps(installed_body(forge_host))
    response = strict.post(url, body, content_type="application/json", **event_headers(forge_host))
    assert response.status_code == 204


# -- POST /forge/scheduled -----------------------------------------------------------------------


def test_scheduled_trigger_stores_the_system_token(forge_host, db, received, committed):
    response = forge_host.trigger_scheduled()
    assert response.status_code == 204
    sent = forge_host.sent[-1]
    assert "x-forge-oauth-system" in sent["headers"]
    assert "x-forge-oauth-user" not in sent["headers"]
    row = ForgeInstallation.objects.get(installation_id=forge_host.installation().id)
    assert stored_system_token(row) == forge_host.current_system_token()
    (invoked,) = received.of("forge_invoked")
    assert invoked["context"].user_token is None and invoked["context"].principal is None
    assert received.of("forge_installed") == []


def test_scheduled_trigger_keeps_the_newer_token(forge_host, db):
    assert forge_host.trigger_scheduled().status_code == 204
    first = forge_host.current_system_token()
    forge_host.expire_system_token()  # the platform hands out a new one next time
    assert forge_host.trigger_scheduled().status_code == 204
    second = forge_host.current_system_token()
    assert second != first
    row = ForgeInstallation.objects.get()
    assert stored_system_token(row) == second


def test_scheduled_refusals_write_nothing(client, forge_host, db):
    expired = forge_host.mint_fit(kind="scheduled", overrides={"exp": 1, "iat": 0, "nbf": 0})
    response = client.post(
        "/forge/scheduled",
        "{}",
        content_type="application/json",
        **event_headers(forge_host, fit=expired),
    )
    assert_bearer_refusal(response, "token_expired")
    assert ForgeInstallation.objects.count() == 0
