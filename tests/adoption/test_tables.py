"""The mapping tables are exact, and agree with the validator package they come from."""

from __future__ import annotations

import json

import pytest

from django_atlassian_connect.adoption import inputs
from django_atlassian_connect.adoption.errors import AdoptionError
from django_atlassian_connect.adoption.events import WEBHOOK_EVENTS, product_events
from django_atlassian_connect.adoption.modules import ACCEPTED_MODULE_TYPES
from django_atlassian_connect.adoption.scopes import CONNECT_SCOPES, forge_connect_scopes
from tests.adoption.conftest import VALIDATOR_DIR
from tests.adoption.support import failing, generate

PACKAGE = VALIDATOR_DIR / "node_modules" / "@forge" / "manifest" / "out"

SCOPE_TABLE = [
    ("jira", "READ", "read:connect-jira"),
    ("jira", "WRITE", "write:connect-jira"),
    ("jira", "DELETE", "delete:connect-jira"),
    ("jira", "PROJECT_ADMIN", "project-admin:connect-jira"),
    ("jira", "ADMIN", "admin:connect-jira"),
    ("jira", "ACT_AS_USER", "act-as-user:connect-jira"),
    ("jira", "ACCESS_EMAIL_ADDRESSES", "access-email-addresses:connect-jira"),
    ("confluence", "READ", "read:connect-confluence"),
    ("confluence", "WRITE", "write:connect-confluence"),
    ("confluence", "DELETE", "delete:connect-confluence"),
    ("confluence", "SPACE_ADMIN", "space-admin:connect-confluence"),
    ("confluence", "ADMIN", "admin:connect-confluence"),
    ("confluence", "ACT_AS_USER", "act-as-user:connect-confluence"),
    ("confluence", "ACCESS_EMAIL_ADDRESSES", "access-email-addresses:connect-confluence"),
]


@pytest.mark.parametrize(("product", "connect", "forge"), SCOPE_TABLE)
def test_each_connect_scope_maps_exactly(product, connect, forge):
    assert forge_connect_scopes(product, [connect]) == [forge]
    assert CONNECT_SCOPES[product][connect] == forge


def test_the_tables_have_nothing_else():
    for product in ("jira", "confluence"):
        expected = {(c, f) for p, c, f in SCOPE_TABLE if p == product}
        assert set(CONNECT_SCOPES[product].items()) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("product", ["jira", "confluence"])
def test_the_command_writes_every_scope_of_the_product(configure, full_urls, product):
    scopes = [c for p, c, _ in SCOPE_TABLE if p == product]
    configure(SCOPES=scopes, FORGE_PRODUCT=product)
    written = generate().manifest["permissions"]["scopes"]
    assert written == [f for p, _, f in SCOPE_TABLE if p == product] + ["read:app-system-token"]


@pytest.mark.parametrize(
    ("product", "scope"), [("jira", "SPACE_ADMIN"), ("confluence", "PROJECT_ADMIN")]
)
def test_a_scope_of_the_other_product_is_unknown(product, scope):
    with pytest.raises(AdoptionError) as caught:
        forge_connect_scopes(product, ["READ", scope])
    assert caught.value.code == "adoption_scope_unknown"
    assert scope in caught.value.detail


def test_webhook_events_map_to_forge_events():
    jira = product_events(
        "jira",
        [
            {"event": "jira:issue_created"},
            {"event": "jira:issue_updated"},
            {"event": "comment_created"},
            {"event": "comment_updated"},  # the same Forge event: once
            {"event": "sprint_started"},
            {"event": "option_voting_changed"},
        ],
    )
    assert jira.events == [
        "avi:jira:created:issue",
        "avi:jira:updated:issue",
        "avi:jira:commented:issue",
        "avi:jira-software:started:sprint",
    ]
    assert jira.scopes == ["read:jira-work"]
    assert jira.unmapped == ["option_voting_changed"]
    confluence = product_events("confluence", [{"event": "comment_created"}])
    assert confluence.events == ["avi:confluence:created:comment"]


# -- against @forge/manifest 13.7.0 (the validator's own data) ----------------------------------


def test_accepted_module_types_are_the_validators(node_script):
    supported = node_script(
        "console.log(JSON.stringify(require('@forge/manifest').SUPPORTED_MODULES))"
    )
    for product, types in ACCEPTED_MODULE_TYPES.items():
        theirs = {m.split(":", 1)[1] for m in supported if m.startswith(f"connect-{product}:")}
        assert set(types) == theirs, product


def test_event_scopes_are_the_validators(forge_validator):
    mapping = json.loads((PACKAGE / "mapping" / "product-event-to-scope-mapping.json").read_text())
    current = {
        m["productEvent"]: set(m["oAuthScopes"].get("current", [])) for m in mapping["mapping"]
    }
    checked = 0
    for table in WEBHOOK_EVENTS.values():
        for event, scopes in table.values():
            if event in current:  # label events are not in it: their scopes are the docs'
                assert set(scopes) == current[event], event
                checked += 1
    assert checked > 60


def test_every_forge_scope_we_write_is_one_forge_knows(forge_validator):
    known = set(json.loads((PACKAGE / "scopes" / "shipyard-scopes.json").read_text()))
    ours = {s for table in CONNECT_SCOPES.values() for s in table.values()}
    ours |= {s for table in WEBHOOK_EVENTS.values() for _, scopes in table.values() for s in scopes}
    ours |= {"read:app-system-token", "read:app-user-token"}
    assert ours <= known, ours - known


def test_runtimes_and_regions_are_the_schemas(forge_validator):
    schema = json.loads((PACKAGE / "schema" / "manifest-schema.json").read_text())
    app = schema["definitions"]["AppSchema"]["properties"]
    assert set(inputs.RUNTIMES) == set(app["runtime"]["properties"]["name"]["enum"])
    assert "nodejs22.x" in inputs.RUNTIMES  # FORGE_RUNTIME's default
    base_url = schema["definitions"]["RemotesSchema"]["items"]["properties"]["baseUrl"]
    regions = set(base_url["oneOf"][1]["propertyNames"]["enum"])
    assert set(inputs.REGIONS) | {"default"} == regions


@pytest.mark.django_db
def test_an_unknown_scope_is_an_error_naming_it(configure, full_urls):
    configure(SCOPES=["READ", "MAGIC"])
    message = failing()
    assert message.startswith("adoption_scope_unknown: ")
    assert "'MAGIC'" in message and "READ, WRITE" in message
