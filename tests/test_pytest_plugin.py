"""The pytest plugin's fixtures, used as a user's test suite would."""

import pytest


def test_a_user_can_test_a_drf_view_in_a_few_lines(connect_client):
    response = connect_client.context_get("/drf/context")
    assert response.status_code == 200
    assert response.json()["accountId"] == connect_client.account_id


def test_page_tokens_and_webhooks(connect_client, connect_host, connect_tenant):
    assert (
        connect_client.page_get("/page?project=DEMO").json()["clientKey"]
        == connect_tenant.client_key
    )
    assert connect_client.page_post("/hook", {"issue": {"key": "DEMO-1"}}).status_code == 200
    assert connect_client.context_get("/page").status_code == 401  # context token on a page


def test_connect_tenant_is_a_signed_install(connect_tenant, connect_host):
    assert connect_tenant.base_url == connect_host.base_url
    assert connect_tenant.current_secret.secret == connect_host.shared_secret
    assert connect_tenant.lifecycle_events.get().accepted


@pytest.mark.django_db
def test_the_app_calls_the_simulated_site(connect_tenant, connect_host):
    from django_atlassian_connect.client import ConnectClient

    assert (
        ConnectClient(connect_tenant).as_app().get("/rest/api/3/myself").json()["accountType"]
        == "app"
    )
    user = next(iter(connect_host.accounts))
    assert (
        ConnectClient(connect_tenant).as_user(user).get("/rest/api/3/myself").json()["accountId"]
        == user
    )


def test_rotation_and_uninstall_through_the_host(connect_client, connect_host, connect_tenant):
    connect_host.install(rotate_secret=True)
    connect_tenant.refresh_from_db()
    assert connect_tenant.current_secret.secret == connect_host.shared_secret
    connect_host.disable()
    assert connect_client.page_get("/page").json()["code"] == "tenant_disabled"
    connect_host.enable()
    connect_host.uninstall()
    assert connect_client.page_get("/page").json()["code"] == "tenant_uninstalled"
