"""Atlassian Government Cloud: the install key server is chosen by the install's baseUrl host,
from INSTALL_KEYS_URLS_BY_HOST only (never a URL from the request or the token).

Two key servers on 127.0.0.1: the commercial one (``key_server``, INSTALL_KEYS_URL) and a
"Government Cloud" one mapped to ``*.atlassian-us-gov-mod.net``. Each key is published by one
server only, so an accepted install proves which server was asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from django_atlassian_connect.conf import DEFAULTS
from django_atlassian_connect.connect import install_keys
from django_atlassian_connect.models import Tenant
from django_atlassian_connect.testing import InstallKeyPair, InstallKeyServer
from tests.conftest import Site

GOV_HOST = "*.atlassian-us-gov-mod.net"


@pytest.fixture(scope="module")
def gov_key() -> InstallKeyPair:
    return InstallKeyPair()


@pytest.fixture(scope="module")
def gov_server(gov_key: InstallKeyPair) -> Iterator[InstallKeyServer]:
    with InstallKeyServer(gov_key) as server:
        yield server


@pytest.fixture
def gov_settings(settings: Any, gov_server: InstallKeyServer) -> InstallKeyServer:
    gov_server.requests.clear()
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "ALLOWED_PRODUCT_HOSTS": ["*.atlassian.net", GOV_HOST],
        "INSTALL_KEYS_URLS_BY_HOST": {GOV_HOST: gov_server.url},
    }
    return gov_server


def site(client: Any, key: InstallKeyPair, host: str) -> Site:
    return Site(
        client=client,
        key=key,
        client_key=f"jira:{uuid.uuid4()}",
        base_url=f"https://{host}",
        secret=f"ATCOsecret-{uuid.uuid4().hex}{uuid.uuid4().hex}",
    )


def test_the_documented_government_cloud_pair_is_the_default():
    assert DEFAULTS["INSTALL_KEYS_URLS_BY_HOST"] == {
        "*.atlassian-us-gov-mod.net": "https://connect-install-keys.atlassian-us-gov-mod.com",
        "*.atlassian-us-gov-mod.com": "https://connect-install-keys.atlassian-us-gov-mod.com",
    }


def test_the_url_is_chosen_by_host_from_the_configured_map(settings, key_server):
    gov = "https://connect-install-keys.atlassian-us-gov-mod.com"
    kid = "6d2e1f4a-0c3b-4a5e-9f1d-2b7c8e9a0f11"
    assert install_keys.key_url(kid, "https://acme.atlassian.net") == f"{key_server.url}/{kid}"
    assert install_keys.key_url(kid, "https://acme.atlassian-us-gov-mod.net") == f"{gov}/{kid}"
    assert install_keys.key_url(kid, "https://ACME.Atlassian-US-Gov-Mod.com/jira") == f"{gov}/{kid}"
    # A look-alike host is not in the map: the commercial server.
    lookalike = "https://atlassian-us-gov-mod.net.evil.example"
    assert install_keys.key_url(kid, lookalike) == f"{key_server.url}/{kid}"
    assert install_keys.key_url(kid, "not a url") == f"{key_server.url}/{kid}"
    # Read when used: an emptied map sends every host to INSTALL_KEYS_URL.
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "INSTALL_KEYS_URLS_BY_HOST": {}}
    assert install_keys.key_url(kid, "https://acme.atlassian-us-gov-mod.net").startswith(
        key_server.url
    )


@pytest.mark.django_db
def test_a_commercial_site_uses_install_keys_url(client, install_key, key_server, gov_settings):
    commercial = site(client, install_key, "acme.atlassian.net")
    key_server.requests.clear()
    response = commercial.install()
    assert response.status_code == 204, response.content
    assert Tenant.objects.get(client_key=commercial.client_key).base_url == commercial.base_url
    assert key_server.requests == [install_key.kid] and gov_settings.requests == []


@pytest.mark.django_db
def test_a_government_site_uses_the_mapped_key_server(client, gov_key, key_server, gov_settings):
    gov = site(client, gov_key, "agency.atlassian-us-gov-mod.net")
    key_server.requests.clear()
    response = gov.install()
    assert response.status_code == 204, response.content
    tenant = Tenant.objects.get(client_key=gov.client_key)
    assert tenant.base_url == "https://agency.atlassian-us-gov-mod.net" and tenant.is_installed
    assert gov_settings.requests == [gov_key.kid] and key_server.requests == []


@pytest.mark.django_db
def test_a_government_site_signed_with_a_commercial_key_is_refused(
    client, install_key, key_server, gov_settings
):
    # The commercial server knows this key, but a Government Cloud host never asks it.
    gov = site(client, install_key, "agency.atlassian-us-gov-mod.net")
    response = gov.install()
    assert response.status_code == 401 and response.json()["code"] == "key_invalid"
    assert gov_settings.requests == [install_key.kid] and install_key.kid not in key_server.requests
    assert not Tenant.objects.filter(client_key=gov.client_key).exists()


@pytest.mark.django_db
def test_a_commercial_site_signed_with_a_government_key_is_refused(
    client, gov_key, key_server, gov_settings
):
    commercial = site(client, gov_key, "acme.atlassian.net")
    response = commercial.install()
    assert response.status_code == 401 and response.json()["code"] == "key_invalid"
    assert gov_settings.requests == []


def test_a_map_that_is_not_a_dict_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "INSTALL_KEYS_URLS_BY_HOST": [GOV_HOST],
    }
    with pytest.raises(ImproperlyConfigured, match="INSTALL_KEYS_URLS_BY_HOST"):
        install_keys.key_url("kid-1", "https://acme.atlassian.net")
