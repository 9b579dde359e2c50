"""System checks of the Forge contract settings (E020-E022) and of the Government Cloud
install keys map (E023): each refuses what cannot work, with an id and a hint, and
passes the documented values."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_atlassian_connect.checks import check_forge_contract_settings


def with_settings(settings: Any, **values: Any) -> list[Any]:
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, **values}
    return check_forge_contract_settings()


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_the_defaults_pass(settings):
    assert with_settings(settings) == []


@pytest.mark.parametrize(
    "template",
    [
        "https://forge.cdn.{IC_LABEL}.example/.well-known/jwks.json",  # Atlassian's placeholder
        "https://forge.cdn.{icLabel}.example/.well-known/jwks.json",  # the claim's name
        None,
    ],
)
def test_an_ic_template_with_a_placeholder_passes(settings, template):
    assert with_settings(settings, FORGE_IC_JWKS_URL_TEMPLATE=template) == []


@pytest.mark.parametrize(
    "template",
    [
        "https://forge.cdn.orange.example/jwks.json",
        "https://x/{ic_label}/jwks.json",
        ["{IC_LABEL}"],
    ],
)
def test_an_ic_template_without_a_placeholder_is_an_error(settings, template):
    (error,) = with_settings(settings, FORGE_IC_JWKS_URL_TEMPLATE=template)
    assert error.id == "atlassian_connect.E020" and error.level >= 40
    assert "{IC_LABEL}" in error.hint and "FORGE_IC_JWKS_URL_TEMPLATE" in error.msg


def test_a_context_form_that_is_neither_site_nor_workspace_is_an_error(settings):
    assert with_settings(settings, FORGE_CONTEXT_ARI_FORM="workspace") == []
    (error,) = with_settings(settings, FORGE_CONTEXT_ARI_FORM="org")
    assert error.id == "atlassian_connect.E021" and "site" in error.hint


@pytest.mark.parametrize(
    "value", [["PRODUCTION"], {"PRODUCTION": True}, {"PRODUCTION": "maybe"}, "licensed"]
)
def test_an_absent_licence_table_of_the_wrong_shape_is_an_error(settings, value):
    (error,) = with_settings(settings, FORGE_ABSENT_LICENSE=value)
    assert error.id == "atlassian_connect.E022" and '"PRODUCTION": "unlicensed"' in error.hint


def test_a_partial_absent_licence_table_passes(settings):
    assert with_settings(settings, FORGE_ABSENT_LICENSE={"production": "licensed"}) == []


@pytest.mark.parametrize(
    "mapping",
    [
        {"*.atlassian-us-gov-mod.net": "http://connect-install-keys.example"},  # not https
        {"*.atlassian-us-gov-mod.net": "keys.example"},
        {"*.atlassian-us-gov-mod.net": None},
        {"": "https://keys.example"},
        ["*.atlassian-us-gov-mod.net"],
    ],
)
def test_an_unusable_install_keys_map_is_an_error(settings, mapping):
    (error,) = with_settings(settings, INSTALL_KEYS_URLS_BY_HOST=mapping)
    assert error.id == "atlassian_connect.E023" and "atlassian-us-gov-mod" in error.hint


def test_an_install_keys_map_on_loopback_passes_for_tests(settings):
    local = {"*.atlassian-us-gov-mod.net": "http://127.0.0.1:8123"}
    assert with_settings(settings, INSTALL_KEYS_URLS_BY_HOST=local) == []
    assert with_settings(settings, INSTALL_KEYS_URLS_BY_HOST={}) == []


def test_manage_py_check_reports_them(settings):
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_IC_JWKS_URL_TEMPLATE": "https://no-placeholder.example/jwks.json",
        "FORGE_CONTEXT_ARI_FORM": "tenant",
    }
    with pytest.raises(SystemCheckError) as info:
        call_command("check")
    assert "atlassian_connect.E020" in str(info.value)
    assert "atlassian_connect.E021" in str(info.value)
    assert ids(check_forge_contract_settings()) == [
        "atlassian_connect.E020",
        "atlassian_connect.E021",
    ]
