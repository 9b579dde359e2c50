"""The realm-migration hooks, when routed, are declared as Forge's migration:dataResidency."""

from __future__ import annotations

import pytest

from tests.adoption.support import generate, save

pytestmark = pytest.mark.django_db


def test_routed_realm_hooks_become_the_data_residency_module(
    configure, settings, tmp_path, forge_validator
):
    settings.ROOT_URLCONF = "tests.adoption.urls_package_forge"
    run = generate()
    modules = run.manifest["modules"]
    assert modules["migration:dataResidency"] == [
        {"key": "forge-data-residency", "remote": "connect", "path": "/forge/realm-migration"}
    ]
    # Forge calls <path>/<phase>: each phase is a URL the app serves.
    assert forge_validator(save(tmp_path, run.out)) == []


def test_the_module_names_the_configured_remote(configure, settings):
    settings.ROOT_URLCONF = "tests.adoption.urls_package_forge"
    configure(FORGE_REMOTE_KEY="backend")
    module = generate().manifest["modules"]["migration:dataResidency"][0]
    assert module == {
        "key": "forge-data-residency",
        "remote": "backend",
        "path": "/forge/realm-migration",
    }


def test_no_realm_route_no_module(configure, full_urls):
    assert "migration:dataResidency" not in generate().manifest["modules"]
