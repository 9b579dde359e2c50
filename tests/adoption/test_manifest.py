"""manage.py forge_manifest writes manifests Atlassian's validator accepts with 0 errors."""

from __future__ import annotations

import pytest
import yaml

from django_atlassian_connect.adoption import build_manifest, render
from tests.adoption.conftest import APP_ARI, APP_UUID
from tests.adoption.support import forge_manifest, generate, save

pytestmark = pytest.mark.django_db

JIRA_MODULES = {
    "generalPages": [{"key": "hello", "name": {"value": "Hello"}, "url": "/hello"}],
    "webhooks": [
        {"event": "jira:issue_created", "url": "/hook"},
        {"event": "comment_created", "url": "/hook", "filter": "project = DEMO"},
        {"event": "option_voting_changed", "url": "/hook"},
    ],
    "webPanels": [
        {
            "key": "issue-panel",
            "location": "atl.jira.view.issue.right.context",
            "name": {"value": "Panel"},
            "url": "/panel?issue={issue.key}",
            "conditions": [
                {"condition": "user_is_logged_in"},
                {
                    "or": [
                        {
                            "condition": "can_use_application",
                            "params": {"applicationKey": "jira-software"},
                        },
                        {"condition": "is_admin_mode", "invert": True},
                    ]
                },
            ],
        }
    ],
    "jiraIssueContents": [
        {
            "key": "issue-content",
            "name": {"value": "Content"},
            "target": {"type": "web_panel", "url": "/content"},
            "icon": {"width": 24, "height": 24, "url": "/icon.png"},
            "tooltip": {"value": "Open the content"},
        }
    ],
    "postInstallPage": {"key": "welcome", "name": {"value": "Welcome"}, "url": "/welcome"},
}

CONFLUENCE_MODULES = {
    "dynamicContentMacros": [
        {
            "key": "status-macro",
            "name": {"value": "Status"},
            "url": "/macro?body={macro.body}",
            "bodyType": "none",
            "outputType": "block",
        }
    ],
    "webItems": [
        {
            "key": "page-action",
            "location": "system.content.action",
            "name": {"value": "Action"},
            "url": "/action?page={page.id}",
            "conditions": [{"condition": "has_page_permission", "params": {"permission": "VIEW"}}],
        }
    ],
    "webhooks": [
        {"event": "page_created", "url": "/hook"},
        {"event": "page_removed", "url": "/hook"},
        {"event": "blueprint_page_created", "url": "/hook"},
    ],
}


def validated(tmp_path, forge_validator, text: str, name: str = "manifest.yml") -> dict:
    path = save(tmp_path, text, name)
    assert forge_validator(path) == [], text
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


# -- the shape -------------------------------------------------------------------------------


def test_jira_manifest_has_every_part_and_passes_the_validator(
    configure, full_urls, tmp_path, forge_validator
):
    configure(SCOPES=["READ", "WRITE"], DESCRIPTOR={"modules": JIRA_MODULES})
    run = generate()
    data = validated(tmp_path, forge_validator, run.out)
    assert data["app"] == {
        "id": APP_ARI,  # the bare uuid of FORGE_APP_ID becomes the ARI
        "runtime": {"name": "nodejs22.x"},
        "connect": {"key": "com.example.tests", "remote": "connect", "authentication": "jwt"},
    }
    assert data["remotes"] == [
        {
            "key": "connect",
            "baseUrl": "https://app.example.com",
            "operations": ["storage", "compute"],
            "storage": {"inScopeEUD": True},
        }
    ]
    modules = data["modules"]
    assert modules["endpoint"] == [
        {
            "key": "forge-lifecycle",
            "remote": "connect",
            "route": {"path": "/forge/lifecycle"},
            "auth": {"appSystemToken": {"enabled": True}},
        },
        {
            "key": "forge-scheduled",
            "remote": "connect",
            "route": {"path": "/forge/scheduled"},
            "auth": {"appSystemToken": {"enabled": True}},
        },
        {
            "key": "forge-events",
            "remote": "connect",
            "route": {"path": "/forge/events"},
            "auth": {"appSystemToken": {"enabled": True}},
        },
        # The installation goes away: no token asked for.
        {
            "key": "forge-pre-uninstall",
            "remote": "connect",
            "route": {"path": "/forge/pre-uninstall"},
        },
    ]
    assert modules["trigger"] == [
        {
            "key": "forge-lifecycle-trigger",
            "endpoint": "forge-lifecycle",
            "events": ["avi:forge:installed:app", "avi:forge:upgraded:app"],
        },
        {
            "key": "forge-product-events",
            "endpoint": "forge-events",
            "events": ["avi:jira:created:issue", "avi:jira:commented:issue"],
        },
    ]
    assert modules["scheduledTrigger"] == [
        {"key": "forge-token-refresh", "endpoint": "forge-scheduled", "interval": "hour"}
    ]
    assert modules["preUninstall"] == [
        {"key": "forge-pre-uninstall-trigger", "endpoint": "forge-pre-uninstall"}
    ]
    connect = data["connectModules"]
    assert list(connect) == [
        "jira:lifecycle",
        "jira:generalPages",
        "jira:jiraIssueContents",
        "jira:postInstallPage",
        "jira:webPanels",
        "jira:webhooks",
    ]
    assert connect["jira:lifecycle"] == [
        {
            "key": "lifecycle-events",
            "installed": "/installed",
            "uninstalled": "/uninstalled",
            "enabled": "/enabled",
            "disabled": "/disabled",
        }
    ]
    assert connect["jira:webPanels"][0] == JIRA_MODULES["webPanels"][0]  # conditions 1:1
    assert connect["jira:postInstallPage"] == [JIRA_MODULES["postInstallPage"]]
    assert [w["key"] for w in connect["jira:webhooks"]] == [
        "webhook-jira-issue-created",
        "webhook-comment-created",
        "webhook-option-voting-changed",
    ]
    assert data["permissions"] == {
        "scopes": [
            "read:connect-jira",
            "write:connect-jira",
            "read:app-system-token",
            "read:jira-work",  # what avi:jira:created:issue and commented:issue need
        ]
    }
    assert "'option_voting_changed' stays a Connect webhook" in run.err
    assert "'comment_created': its filter is not carried over" in run.err


def test_without_forge_routes_only_connect_modules(configure, settings, tmp_path, forge_validator):
    settings.ROOT_URLCONF = "tests.adoption.urls_connect_only"
    configure(DESCRIPTOR={"modules": JIRA_MODULES})
    run = generate()
    data = validated(tmp_path, forge_validator, run.out)
    assert "modules" not in data
    assert "jira:webhooks" in data["connectModules"]
    # No events endpoint: the webhooks bring no product-event scope and no note.
    assert data["permissions"]["scopes"] == [
        "read:connect-jira",
        "write:connect-jira",
        "act-as-user:connect-jira",
        "read:app-system-token",
    ]
    assert run.err == ""


def test_lifecycle_and_scheduled_only(configure, settings, tmp_path, forge_validator):
    settings.ROOT_URLCONF = "tests.adoption.urls_basic"
    configure(DESCRIPTOR={"modules": {"webhooks": [{"event": "jira:issue_created", "url": "/h"}]}})
    data = validated(tmp_path, forge_validator, generate().out)
    assert [e["key"] for e in data["modules"]["endpoint"]] == ["forge-lifecycle", "forge-scheduled"]
    assert set(data["modules"]) == {"endpoint", "trigger", "scheduledTrigger"}


def test_the_events_endpoint_needs_a_mappable_webhook(
    configure, full_urls, tmp_path, forge_validator
):
    configure(
        DESCRIPTOR={"modules": {"webhooks": [{"event": "option_voting_changed", "url": "/h"}]}}
    )
    run = generate()
    data = validated(tmp_path, forge_validator, run.out)
    assert "forge-events" not in [e["key"] for e in data["modules"]["endpoint"]]
    assert [t["key"] for t in data["modules"]["trigger"]] == ["forge-lifecycle-trigger"]
    assert "jira webhook 'option_voting_changed' stays a Connect webhook" in run.err


def test_confluence_manifest(configure, full_urls, tmp_path, forge_validator):
    configure(
        FORGE_PRODUCT=None,
        SCOPES=["READ", "WRITE", "SPACE_ADMIN"],
        DESCRIPTOR={"modules": CONFLUENCE_MODULES},
    )
    run = generate("--product", "confluence")
    data = validated(tmp_path, forge_validator, run.out)
    assert list(data["connectModules"]) == [
        "confluence:lifecycle",
        "confluence:dynamicContentMacros",
        "confluence:webItems",
        "confluence:webhooks",
    ]
    assert (
        data["connectModules"]["confluence:dynamicContentMacros"]
        == (CONFLUENCE_MODULES["dynamicContentMacros"])
    )
    assert data["modules"]["trigger"][1]["events"] == [
        "avi:confluence:created:page",
        "avi:confluence:deleted:page",
    ]
    assert data["permissions"]["scopes"] == [
        "read:connect-confluence",
        "write:connect-confluence",
        "space-admin:connect-confluence",
        "read:app-system-token",
        "read:confluence-content.summary",
        "write:confluence-content",  # avi:confluence:deleted:page needs it
    ]
    assert "'blueprint_page_created' stays a Connect webhook" in run.err


def test_licensing(configure, full_urls, tmp_path, forge_validator):
    configure(DESCRIPTOR={"enableLicensing": True, "modules": {}})
    data = validated(tmp_path, forge_validator, generate().out)
    assert data["app"]["licensing"] == {"enabled": True}
    configure(DESCRIPTOR={"enableLicensing": False, "modules": {}})
    assert "licensing" not in generate().manifest["app"]


def test_regions_give_the_region_specific_base_url(configure, full_urls, tmp_path, forge_validator):
    configure(
        FORGE_REGIONS={"EU": "https://eu.app.example.com/", "US": "https://us.app.example.com"},
        FORGE_STORAGE_IN_SCOPE_EUD=False,
    )
    data = validated(tmp_path, forge_validator, generate().out)
    assert data["remotes"][0]["baseUrl"] == {
        "default": "https://app.example.com",
        "EU": "https://eu.app.example.com",
        "US": "https://us.app.example.com",
    }
    assert data["remotes"][0]["storage"] == {"inScopeEUD": False}


def test_offline_impersonation_writes_scopes_in_map_form(
    configure, full_urls, tmp_path, forge_validator
):
    configure(FORGE_OFFLINE_IMPERSONATION=True, FORGE_USER_TOKENS=True, SCOPES=["READ"])
    data = validated(tmp_path, forge_validator, generate().out)
    assert data["permissions"]["scopes"] == {
        "read:connect-jira": {"allowImpersonation": True},
        "read:app-system-token": {},
        "read:app-user-token": {},
    }


def test_user_tokens_and_oauth_scopes(configure, full_urls, tmp_path, forge_validator):
    configure(
        SCOPES=["READ"],
        FORGE_USER_TOKENS=True,
        OAUTH_CLIENT_ID="client",
        OAUTH_SCOPES=["read:me", "offline_access", "read:jira-user"],
    )
    data = validated(tmp_path, forge_validator, generate().out)
    assert data["permissions"]["scopes"] == [
        "read:connect-jira",
        "read:app-system-token",
        "read:app-user-token",
        "read:me",
        "read:jira-user",
    ]
    configure(OAUTH_CLIENT_ID=None, FORGE_USER_TOKENS=False)
    assert generate().manifest["permissions"]["scopes"] == [
        "read:connect-jira",
        "read:app-system-token",
    ]


def test_connect_key_variable(configure, full_urls, tmp_path, forge_validator):
    data = validated(
        tmp_path, forge_validator, generate("--connect-key-variable", "CONNECT_KEY").out
    )
    assert data["app"]["connect"]["key"] == "${CONNECT_KEY}"
    assert data["environment"] == {
        "variables": [{"key": "CONNECT_KEY", "default": "com.example.tests"}]
    }
    assert list(data)[:2] == ["app", "environment"]


def test_several_app_ids_use_the_first_and_say_so(configure, full_urls):
    other = "ari:cloud:ecosystem::app/99999999-2222-4333-8444-555555555555"
    configure(FORGE_APP_ID=[APP_ARI, other])
    run = generate()
    assert run.manifest["app"]["id"] == APP_ARI
    assert "lists 2 app ids" in run.err and APP_ARI in run.err


def test_settings_are_read_when_used(configure, full_urls):
    configure(FORGE_RUNTIME="nodejs24.x", FORGE_REMOTE_KEY="backend")
    data = generate().manifest
    assert data["app"]["runtime"] == {"name": "nodejs24.x"}
    assert data["app"]["connect"]["remote"] == "backend"
    assert {e["remote"] for e in data["modules"]["endpoint"]} == {"backend"}


def test_output_is_deterministic_and_round_trips(configure, full_urls):
    configure(DESCRIPTOR={"modules": JIRA_MODULES}, FORGE_OFFLINE_IMPERSONATION=True)
    first, second = generate().out, generate().out
    assert first == second
    manifest = build_manifest()
    assert yaml.safe_load(render(manifest.data)) == manifest.data
    assert first == render(manifest.data)


def test_output_file_is_written(configure, full_urls, tmp_path):
    target = tmp_path / "manifest.yml"
    run = forge_manifest("--output", str(target))
    assert run.error is None and run.out == ""
    assert yaml.safe_load(target.read_text())["app"]["id"] == APP_ARI
    assert f"Wrote {target}" in run.err
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.yml"]  # no temp file left


def test_a_bare_uuid_and_an_ari_give_the_same_id(configure, full_urls):
    configure(FORGE_APP_ID=APP_UUID.upper())
    assert generate().manifest["app"]["id"] == APP_ARI
