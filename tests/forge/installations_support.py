"""Forge installation test helpers: verified invocations, opaque tokens, Connect installs."""

from __future__ import annotations

import dataclasses

import jwt
from django.db import connection
from django.test import RequestFactory

from django_atlassian_connect.forge import verify_invocation
from django_atlassian_connect.models import Tenant
from tests.conftest import Site

ARI = "ari:cloud:ecosystem::installation/"


def invocation(forge, installation=None, *, system_token=True, kind="ui", account_id=None):
    """A verified ForgeContext, as the front door gets it."""
    if account_id is None and kind == "ui":
        account_id = next(iter(forge.accounts))
    headers = forge.invocation_headers(
        installation, account_id=account_id, kind=kind, system_token=system_token
    )
    return verify_invocation(RequestFactory().post("/forge/any", headers=headers))


def with_token(ctx, token):
    return dataclasses.replace(ctx, system_token=token)


def opaque_token(exp, **claims) -> str:
    return jwt.encode(
        {"exp": exp, **claims},
        "opaque to the app: only exp is read, never verified",
        algorithm="HS256",
    )


def raw_token_column(pk) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT system_token FROM django_atlassian_connect_forgeinstallation WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def install_connect(site: Site, installation_id: str | None = None):
    overrides = {"installationId": installation_id} if installation_id else {}
    response = site.install(**overrides)
    assert response.status_code == 204, response.content
    return Tenant.objects.get(client_key=site.client_key)
