"""The testing guide's webhook receiver (docs/guides/testing.rst), run as the guide shows it."""

from __future__ import annotations

import sys
import types

import pytest
from django.urls import include, path

from django_atlassian_connect.models import get_tenant_model
from django_atlassian_connect.signals import webhook_received

from .docs_code import DOCS, code_blocks

BLOCKS = code_blocks(DOCS / "guides" / "testing.rst")


def module(name: str, code: str = "") -> types.ModuleType:
    created = types.ModuleType(name)
    exec(compile(code, f"<docs {name}>", "exec"), created.__dict__)
    return created


@pytest.fixture
def guide_app(settings, monkeypatch):
    """The guide's myapp: its webhook view, its receiver, its descriptor, routed."""
    myapp = module("myapp")
    myapp.__path__ = []  # a package, for "from myapp.receivers import seen"
    webhooks = module("myapp.webhooks", BLOCKS["myapp/webhooks.py"])
    receivers = module("myapp.receivers", BLOCKS["myapp/receivers.py"])
    urls = module("myapp.urls")
    urls.urlpatterns = [
        path("", include("django_atlassian_connect.urls")),
        path("webhooks/issue-created", webhooks.issue_created),
    ]
    for name, value in {
        "myapp": myapp,
        "myapp.webhooks": webhooks,
        "myapp.receivers": receivers,
        "myapp.urls": urls,
    }.items():
        monkeypatch.setitem(sys.modules, name, value)
    conf = {}
    exec(BLOCKS["settings.py (the descriptor part)"], conf)
    settings.ROOT_URLCONF = "myapp.urls"
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "DESCRIPTOR": conf["ATLASSIAN_CONNECT"]["DESCRIPTOR"],
    }
    yield receivers
    webhook_received.disconnect(receivers.on_webhook)


def test_the_guides_webhook_receiver(guide_app, connect_host, connect_tenant):
    senders = []

    def sender_of(sender, **kwargs):
        senders.append(sender)

    webhook_received.connect(sender_of)
    try:
        test_module = module("myapp.tests.test_webhooks", BLOCKS["myapp/tests/test_webhooks.py"])
        test_module.test_issue_created_reaches_the_receiver(connect_host, connect_tenant)
    finally:
        webhook_received.disconnect(sender_of)
    assert senders == [get_tenant_model()]


def test_the_guides_webhook_view_refuses_a_body_that_is_not_json(guide_app, connect_client):
    response = connect_client.page_post(
        "/webhooks/issue-created", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "payload_invalid"
    assert guide_app.seen == []
