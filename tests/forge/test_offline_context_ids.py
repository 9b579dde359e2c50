"""Offline impersonation that works: ForgeClient.as_user() for a user not in the request
against the simulated API gateway over real HTTP on 127.0.0.1, configured per test with
the contextIds form the "real" gateway takes (site or workspace), or with impersonation
not allowed at all (no allowImpersonation in the manifest).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from django_atlassian_connect.exceptions import ConnectClientError
from django_atlassian_connect.forge import context_ids, offline, verify_invocation
from django_atlassian_connect.forge.client import ForgeClient
from django_atlassian_connect.forge.installations import record_invocation
from django_atlassian_connect.testing.forge.impersonation import SITE, WORKSPACE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    offline.clear_memory_cache()
    cache.clear()
    yield
    offline.clear_memory_cache()


def installed(forge, installation=None):
    """The stored row after one invocation that brought a system token."""
    headers = forge.invocation_headers(installation)
    return record_invocation(verify_invocation(RequestFactory().get("/forge/x", headers=headers)))


def ari(installation, form):
    product, cloud = installation.product, installation.cloud_id
    if form == WORKSPACE:
        return f"ari:cloud:{product}:{cloud}:workspace/{cloud}"
    return f"ari:cloud:{product}::site/{cloud}"


def mutations(forge):
    return [c for c in forge.gateway.log if c["path"] == "/graphql"]


def acts_as(forge, row, account_id):
    """as_user() then one product call; the account the gateway saw the call made as."""
    body = ForgeClient(row).as_user(account_id).get("/rest/api/3/myself").json()
    (call,) = [c for c in forge.gateway.log if c["path"].endswith("/myself")][-1:]
    assert call["token_kind"] == "offline" and call["account_id"] == account_id
    return body["accountId"]


def test_the_site_form_goes_first_and_is_enough_where_the_gateway_takes_it(forge_host):
    inst = forge_host.installation()
    other = forge_host.add_account("Bo Lee").account_id
    row = installed(forge_host)
    assert acts_as(forge_host, row, other) == other
    (sent,) = mutations(forge_host)
    assert sent["context_ids"] == [ari(inst, SITE)] and sent["token_kind"] == "system"
    (token,) = [r for r in forge_host.issued.values() if r.kind == "offline"]
    assert token.context_id == ari(inst, SITE)


def test_a_workspace_gateway_gets_the_other_form_once_and_it_is_remembered(forge_host):
    inst = forge_host.installation()
    forge_host.gateway.impersonation.accepted_forms = {WORKSPACE}
    bo = forge_host.add_account("Bo Lee").account_id
    cy = forge_host.add_account("Cy").account_id
    row = installed(forge_host)
    assert acts_as(forge_host, row, bo) == bo
    first, second = mutations(forge_host)
    assert first["context_ids"] == [ari(inst, SITE)]
    assert second["context_ids"] == [ari(inst, WORKSPACE)]
    assert context_ids.remembered(inst.id) == WORKSPACE
    # Another user, another process: the learnt form goes first, one mutation.
    offline.clear_memory_cache()
    assert acts_as(forge_host, row, cy) == cy
    assert [m["context_ids"] for m in mutations(forge_host)[2:]] == [[ari(inst, WORKSPACE)]]


def test_the_configured_form_goes_first(forge_host, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_CONTEXT_ARI_FORM": WORKSPACE}
    inst = forge_host.installation()
    forge_host.gateway.impersonation.accepted_forms = {WORKSPACE}
    other = forge_host.add_account("Di").account_id
    assert acts_as(forge_host, installed(forge_host), other) == other
    assert [m["context_ids"] for m in mutations(forge_host)] == [[ari(inst, WORKSPACE)]]
    assert context_ids.remembered(inst.id) is None  # nothing new was learnt


def test_a_learnt_form_is_per_installation(forge_host):
    first = forge_host.installation()
    second = forge_host.add_installation("confluence")
    forge_host.gateway.impersonation.per_installation[second.id] = {WORKSPACE}
    other = forge_host.add_account("Ed").account_id
    row_one, row_two = installed(forge_host, first), installed(forge_host, second)
    ForgeClient(row_two).as_user(other)
    ForgeClient(row_one).as_user(other)
    sent = [m["context_ids"] for m in mutations(forge_host)]
    assert sent == [[ari(second, SITE)], [ari(second, WORKSPACE)], [ari(first, SITE)]]
    assert context_ids.remembered(second.id) == WORKSPACE
    assert context_ids.remembered(first.id) is None
    assert ari(second, WORKSPACE).startswith("ari:cloud:confluence:")


@pytest.mark.parametrize("impersonation_on", [False, True])
def test_no_allow_impersonation_tries_both_forms_then_names_the_prerequisites(
    forge_host, settings, impersonation_on
):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_OFFLINE_IMPERSONATION": impersonation_on,
    }
    inst = forge_host.installation()
    forge_host.gateway.impersonation.allowed = False
    other = forge_host.add_account("Flo").account_id
    row = installed(forge_host)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_user(other)
    error = info.value
    assert error.code == "forge_user_token_unavailable" and error.installation == row
    assert error.context_ids_tried == [ari(inst, SITE), ari(inst, WORKSPACE)]
    assert any("Could not load permissions" in m for m in error.gateway_messages)
    assert "allowImpersonation: true" in error.hint and "map form" in error.hint
    assert "read:app-user-token alone is not enough" in error.hint
    assert ("FORGE_OFFLINE_IMPERSONATION is off" in error.hint) is not impersonation_on
    assert ("manage.py forge_manifest" in error.hint) is not impersonation_on
    assert len(mutations(forge_host)) == 2
    assert not [c for c in forge_host.gateway.log if c["path"].endswith("/myself")]
    assert context_ids.remembered(inst.id) is None
    token = forge_host.current_system_token()
    assert token not in str(error) + repr(error)


def test_other_gateway_errors_do_not_try_the_other_form(forge_host):
    row = installed(forge_host)
    with pytest.raises(ConnectClientError) as info:
        ForgeClient(row).as_user("557058:nobody")
    assert any("not found" in m for m in info.value.gateway_messages)
    assert len(mutations(forge_host)) == 1


def test_a_form_learnt_earlier_falls_back_too_when_the_gateway_changes(forge_host):
    inst = forge_host.installation()
    context_ids.remember(inst.id, WORKSPACE)
    other = forge_host.add_account("Gus").account_id
    assert acts_as(forge_host, installed(forge_host), other) == other
    sent = [m["context_ids"] for m in mutations(forge_host)]
    assert sent == [[ari(inst, WORKSPACE)], [ari(inst, SITE)]]
    assert context_ids.remembered(inst.id) == SITE


def test_a_cache_outage_costs_the_fallback_not_the_call(forge_host, monkeypatch):
    forge_host.gateway.impersonation.accepted_forms = {WORKSPACE}
    other = forge_host.add_account("Hal").account_id
    row = installed(forge_host)

    class Down:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = delete = get

    monkeypatch.setattr(context_ids, "_cache", lambda: Down())
    assert acts_as(forge_host, row, other) == other
    assert len(mutations(forge_host)) == 2


@pytest.mark.parametrize(
    "value, parsed",
    [
        (
            "ari:cloud:jira::site/0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b",
            ("jira", "0d0d0d0d-1e1e-4f2f-8a3a-4b4b4b4b4b4b"),
        ),
        ("ari:cloud:confluence:abc-1:workspace/abc-1", ("confluence", "abc-1")),
        ("ari:cloud:ecosystem::installation/abc", None),
        ("ari:cloud:jira::site/../x", None),
    ],
)
def test_context_aris_are_read_strictly(value, parsed):
    assert context_ids.split_context_ari(value) == parsed


def test_an_unknown_form_setting_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_CONTEXT_ARI_FORM": "org"}
    with pytest.raises(ImproperlyConfigured, match=r"site.*workspace"):
        context_ids.forms_to_try("ari:cloud:ecosystem::installation/x")
