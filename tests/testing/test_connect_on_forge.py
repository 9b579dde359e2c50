"""The plugin's ``connect_on_forge``: one simulated site installed both ways.

And what the Connect lifecycle then does to the linked Forge installation:
``uninstalled`` marks it uninstalled in the same transaction (no
``ForgeClient`` call, no housekeeping for it), an ``installed`` naming the same
id again clears that, one naming another id leaves it alone.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.http import JsonResponse
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ConnectContextJWTAuthentication,
    ForgeInvocationAuthentication,
)
from django_atlassian_connect.connect.lifecycle import deliveries
from django_atlassian_connect.decorators import forge_invocation_required
from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.installations import (
    installations_running_out,
    link_by_app_property,
)
from django_atlassian_connect.models import ForgeInstallation, LifecycleEvent
from django_atlassian_connect.responses import error_response
from django_atlassian_connect.testing.connect_on_forge import ConnectOnForge

pytestmark = pytest.mark.urls(__name__)


class ForgeWhoAmI(APIView):
    authentication_classes = [ForgeInvocationAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        tenant = request.user.installation.tenant
        return Response(
            {
                "installationId": request.auth.installation_id,
                "clientKey": tenant.client_key if tenant else None,
                "accountId": request.user.account_id,
            }
        )


class ConnectWhoAmI(APIView):
    authentication_classes = [ConnectContextJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {"clientKey": request.auth.client_key, "accountId": request.user.account_id}
        )


@forge_invocation_required
def myself_as_app(request):
    """As the example project's /forge/myself?as=app: the shipped status mapping."""
    client = ForgeClient(request.forge_installation, invocation=request.forge)
    try:
        response = client.as_app().get("/rest/api/3/myself")
    except ConnectClientError as exc:
        return error_response(exc)
    return JsonResponse(response.json())


urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
    path("forge/whoami", ForgeWhoAmI.as_view()),
    path("forge/myself", myself_as_app),
    path("api/whoami", ConnectWhoAmI.as_view()),
]


# -- the fixture ----------------------------------------------------------------------------------


def test_the_installation_is_linked_when_the_fixture_returns(connect_on_forge):
    assert isinstance(connect_on_forge, ConnectOnForge)
    tenant = connect_on_forge.tenant
    row = connect_on_forge.forge_installation()
    assert (row.tenant_id, row.link_method) == (tenant.pk, "connect_install")
    assert tenant.client_key == connect_on_forge.client_key == connect_on_forge.host.client_key
    assert tenant.installation_id == connect_on_forge.installation_id
    # One site: one cloudId on both sides, Forge's site URL is the Connect site's.
    assert tenant.cloud_id == row.cloud_id == connect_on_forge.cloud_id
    assert connect_on_forge.installation.site_url == connect_on_forge.host.url == tenant.base_url
    # Forge's own avi:forge:installed:app came too: the installation has its system token.
    assert row.system_token == connect_on_forge.platform.current_system_token(
        connect_on_forge.installation
    )
    assert row.api_base_url == connect_on_forge.installation.api_base_url


def test_forge_and_connect_calls_resolve_to_the_same_tenant_and_user(connect_on_forge):
    forge = connect_on_forge.forge_client.get("/forge/whoami")
    assert forge.status_code == 200, forge.content
    assert forge.json() == {
        "installationId": connect_on_forge.installation_id,
        "clientKey": connect_on_forge.tenant.client_key,
        "accountId": connect_on_forge.account_id,
    }
    connect = connect_on_forge.connect_client.context_get("/api/whoami")
    assert connect.status_code == 200, connect.content
    assert connect.json() == {
        "clientKey": connect_on_forge.tenant.client_key,
        "accountId": connect_on_forge.account_id,
    }


def test_the_gateway_knows_the_same_site(connect_on_forge):
    """The app property the gateway answers names the same clientKey (the third proof)."""
    row = connect_on_forge.forge_installation()
    assert link_by_app_property(row) == connect_on_forge.tenant
    assert ForgeClient.for_tenant(connect_on_forge.tenant).installation == row
    response = connect_on_forge.forge_client.get("/forge/myself")
    assert response.status_code == 200, response.content
    assert response.json()["accountType"] == "app"
    assert (
        response.json()["accountId"] == connect_on_forge.platform.directory.app_account.account_id
    )


@pytest.mark.urls("tests.testing.urls_without_forge_lifecycle")
def test_without_a_forge_lifecycle_route_the_first_invocation_fills_the_row(connect_on_forge):
    row = connect_on_forge.forge_installation()
    assert (row.tenant_id, row.api_base_url, row.system_token) == (
        connect_on_forge.tenant.pk,
        "",
        None,
    )
    response = connect_on_forge.forge_client.get("/forge/whoami")
    assert response.json()["clientKey"] == connect_on_forge.tenant.client_key
    assert response.json()["accountId"] == connect_on_forge.account_id
    row.refresh_from_db()
    assert row.api_base_url == connect_on_forge.installation.api_base_url


# -- Connect uninstalled / installed and the linked installation ---------------------------------


def test_connect_uninstall_marks_the_linked_installation_uninstalled(connect_on_forge):
    gateway_calls = len(connect_on_forge.platform.gateway.log)
    connect_on_forge.host.uninstall()
    row = connect_on_forge.forge_installation()
    assert row.uninstalled_at is not None and not row.is_active
    event = LifecycleEvent.objects.filter(event_type="uninstalled").get()
    assert event.detail == f"uninstalled; forge {connect_on_forge.installation_id} uninstalled"

    # The example project's /forge/myself?as=app: 409 with a code, the gateway not called.
    response = connect_on_forge.forge_client.get("/forge/myself")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "forge_installation_uninstalled"
    assert connect_on_forge.installation_id in response.json()["detail"]
    assert len(connect_on_forge.platform.gateway.log) == gateway_calls

    with pytest.raises(ConnectClientError) as caught:
        ForgeClient.for_tenant(connect_on_forge.tenant)
    assert caught.value.code == "forge_installation_uninstalled"
    assert caught.value.installation == row
    assert row not in installations_running_out(within=10**9)  # housekeeping skips it


def test_a_failed_uninstall_leaves_the_installation_installed(connect_on_forge, monkeypatch):
    """Same transaction: the database failing after the mark rolls the mark back too."""
    real_record = deliveries.record

    def record(event_type, *args, **kwargs):
        if event_type == "uninstalled" and kwargs.get("tenant") is not None:
            raise DatabaseError("disk full")
        return real_record(event_type, *args, **kwargs)

    monkeypatch.setattr(deliveries, "record", record)
    response = connect_on_forge.host.uninstall(expect=None)
    assert response.status_code == 503
    row = connect_on_forge.forge_installation()
    assert row.uninstalled_at is None and row.is_active
    connect_on_forge.tenant.refresh_from_db()
    assert connect_on_forge.tenant.is_installed
    assert ForgeClient.for_tenant(connect_on_forge.tenant).installation == row


def test_a_reinstall_naming_the_same_installation_clears_it(connect_on_forge):
    connect_on_forge.host.uninstall()
    connect_on_forge.host.install()  # the site sends the same installationId again
    row = connect_on_forge.forge_installation()
    assert row.uninstalled_at is None and row.is_active
    assert ForgeClient.for_tenant(connect_on_forge.tenant).installation == row
    response = connect_on_forge.forge_client.get("/forge/myself")
    assert response.status_code == 200, response.content
    assert response.json()["accountType"] == "app"
    assert (
        response.json()["accountId"] == connect_on_forge.platform.directory.app_account.account_id
    )


def test_a_reinstall_naming_another_installation_leaves_the_old_one_uninstalled(
    connect_on_forge,
):
    old = connect_on_forge.installation
    connect_on_forge.host.uninstall()
    new = connect_on_forge.platform.add_installation(
        "jira", site_url=connect_on_forge.host.url, cloud_id=old.cloud_id
    )
    connect_on_forge.host.install(installation_id=new.id)
    old_row = connect_on_forge.forge_installation()
    assert old_row.uninstalled_at is not None and old_row.superseded_at is not None
    new_row = ForgeInstallation.objects.get(installation_id=new.id)
    assert (new_row.tenant_id, new_row.uninstalled_at) == (connect_on_forge.tenant.pk, None)
    assert ForgeClient.for_tenant(connect_on_forge.tenant).installation == new_row


def test_a_reinstall_without_an_installation_id_clears_nothing(connect_on_forge):
    connect_on_forge.host.uninstall()
    connect_on_forge.host.installation_id = None  # a Connect-only reinstall
    connect_on_forge.host.install()
    assert connect_on_forge.forge_installation().uninstalled_at is not None
    with pytest.raises(ConnectClientError) as caught:
        ForgeClient.for_tenant(connect_on_forge.tenant)
    assert caught.value.code == "forge_installation_uninstalled"
