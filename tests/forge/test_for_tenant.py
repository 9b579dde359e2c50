"""``ForgeClient.for_tenant(tenant)``: the client of the tenant's current active installation,
and the refusal of every call for an uninstalled one (nothing sent)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.models import ForgeInstallation
from django_atlassian_connect.responses import client_error_status, error_response

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
# Nothing listens on port 9: a call that was sent would fail with network_error instead.
API = "http://127.0.0.1:9/ex/jira/" + str(uuid.uuid4())


@pytest.fixture(autouse=True)
def _gateway_on_loopback(settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_API_HOSTS": ["127.0.0.1"]}


def make(tenant=None, *, linked_at=NOW, **fields) -> ForgeInstallation:
    return ForgeInstallation.objects.create(
        installation_id=f"ari:cloud:ecosystem::installation/{uuid.uuid4()}",
        tenant=tenant,
        link_method="connect_install" if tenant else "",
        linked_at=linked_at if tenant else None,
        api_base_url=API,
        product="jira",
        system_token="header.eyJleHAiOjQxMDI0NDQ4MDB9.sig",  # exp in 2100
        system_token_expires_at=NOW + timedelta(days=30000),
        **fields,
    )


def refused(call) -> ConnectClientError:
    with pytest.raises(ConnectClientError) as caught:
        call()
    return caught.value


def test_the_tenants_current_active_installation(tenant):
    row = make(tenant)
    make(None)  # another site's, unlinked
    client = ForgeClient.for_tenant(tenant)
    assert client.installation == row
    assert client.installation_id == row.installation_id


def test_the_one_the_signed_install_names_wins_then_the_latest_link(tenant):
    older = make(tenant, linked_at=NOW - timedelta(days=2))
    newer = make(tenant, linked_at=NOW)
    assert ForgeClient.for_tenant(tenant).installation == newer
    tenant.installation_id = older.installation_id
    tenant.save(update_fields=["installation_id"])
    assert ForgeClient.for_tenant(tenant).installation == older


def test_superseded_and_uninstalled_installations_are_skipped(tenant):
    make(tenant, superseded_at=NOW, linked_at=NOW + timedelta(days=1))
    make(tenant, uninstalled_at=NOW, linked_at=NOW + timedelta(days=2))
    active = make(tenant, linked_at=NOW - timedelta(days=1))
    assert ForgeClient.for_tenant(tenant).installation == active


def test_no_installation_linked_is_forge_installation_missing(tenant):
    make(None)
    error = refused(lambda: ForgeClient.for_tenant(tenant))
    assert error.code == "forge_installation_missing"
    assert tenant.client_key in error.detail and "nothing was sent" in error.detail
    assert "connect_tenants --link" in error.hint
    assert error.tenant == tenant
    assert client_error_status(error) == 409


def test_only_an_uninstalled_installation_is_forge_installation_uninstalled(tenant):
    gone = make(tenant, uninstalled_at=NOW)
    error = refused(lambda: ForgeClient.for_tenant(tenant))
    assert error.code == "forge_installation_uninstalled"
    assert error.installation == gone and error.tenant == tenant
    assert f"{gone.installation_id} was uninstalled at 2026-09-01T12:00:00Z" in error.detail
    response = error_response(error)
    assert response.status_code == 409
    assert b'"code": "forge_installation_uninstalled"' in response.content


def test_every_call_for_an_uninstalled_installation_is_refused_before_sending(tenant):
    client = ForgeClient(make(tenant))
    client.installation.uninstalled_at = NOW  # uninstalled while a job held the client
    for call in (
        client.as_app,
        lambda: client.as_user("5b10ac8d82e05b22cc7d4ef5"),
        client.system_token,  # what a session asks for a token with
    ):
        error = refused(call)
        assert error.code == "forge_installation_uninstalled", error
        assert error.installation == client.installation


def test_an_installed_installation_is_called(tenant):
    """The control: the same client before the uninstall does send (and port 9 answers nothing)."""
    client = ForgeClient(make(tenant))
    error = refused(lambda: client.as_app().get("/rest/api/3/myself"))
    assert error.code == "network_error"
