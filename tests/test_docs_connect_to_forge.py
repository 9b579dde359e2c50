"""The playbook's code (docs/guides/connect-to-forge.rst), run as the page shows it, on one
simulated site installed both ways (``connect_on_forge``)."""

from __future__ import annotations

import types

import pytest
from django.urls import include, path

from django_atlassian_connect.exceptions import ConnectClientError

from .docs_code import DOCS, code_blocks

BLOCKS = code_blocks(DOCS / "guides" / "connect-to-forge.rst")


def module(name: str, code: str) -> types.ModuleType:
    created = types.ModuleType(name)
    exec(compile(code, f"<docs {name}>", "exec"), created.__dict__)
    return created


views = module("myapp.views", BLOCKS["myapp/views.py"])
jobs = module("myapp.jobs", BLOCKS["myapp/jobs.py"])

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
    path("summary", views.Summary.as_view()),
]
pytestmark = pytest.mark.urls(__name__)


def test_one_view_answers_the_iframe_and_the_custom_ui_alike(connect_on_forge):
    expected = {
        "clientKey": connect_on_forge.tenant.client_key,
        "accountId": connect_on_forge.account_id,
    }
    iframe = connect_on_forge.connect_client.context_get("/summary")  # AP.context.getToken()
    assert iframe.status_code == 200, iframe.content
    assert iframe.json() == expected
    custom_ui = connect_on_forge.forge_client.get("/summary")  # invokeRemote, a FIT
    assert custom_ui.status_code == 200, custom_ui.content
    assert custom_ui.json() == expected


def test_the_view_refuses_a_request_with_neither_token(connect_on_forge):
    response = connect_on_forge.connect_client.django.get("/summary")
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"


def test_the_view_refuses_a_page_token_it_does_not_take(connect_on_forge):
    response = connect_on_forge.connect_client.page_get("/summary")
    assert response.status_code == 401
    assert response.json()["code"] == "context_qsh_required"


def test_a_fit_of_an_unlinked_installation_has_no_tenant(connect_on_forge):
    from django_atlassian_connect.testing.forge import ForgeTestClient

    elsewhere = connect_on_forge.platform.add_installation("jira")  # a site nothing links
    client = ForgeTestClient(connect_on_forge.platform, connect_on_forge.account_id, elsewhere)
    response = client.get("/summary")
    assert response.status_code == 200, response.content
    assert response.json() == {"clientKey": None, "accountId": connect_on_forge.account_id}


def test_the_job_calls_through_the_tenants_forge_installation(connect_on_forge):
    body = jobs.bot_user(connect_on_forge.tenant)
    assert body["accountType"] == "app"
    assert body["accountId"] == connect_on_forge.platform.directory.app_account.account_id
    connect_on_forge.host.uninstall()
    with pytest.raises(ConnectClientError) as caught:
        jobs.bot_user(connect_on_forge.tenant)
    assert caught.value.code == "forge_installation_uninstalled"
