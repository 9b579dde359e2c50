"""The Forge system checks: E007 (routes, FORGE_APP_ID) and W003 (readiness)."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.urls import include, path
from django.views import View

from django_atlassian_connect import checks
from django_atlassian_connect.models import ForgeInstallation, Tenant
from tests.forge.installations_support import install_connect

pytestmark = pytest.mark.django_db


# -- system checks -------------------------------------------------------------------------------


def forge_view(request):
    return HttpResponse("forge")


forge_view.connect_token_kind = "forge"  # what C1's decorator sets


class ForgeClassView(View):
    connect_token_kind = "forge"

    def get(self, request):
        return HttpResponse("forge")


class ForgeAuthentication:
    connect_token_kind = "forge"


class DrfLikeView(View):
    authentication_classes = [ForgeAuthentication]


def plain_view(request):
    return HttpResponse("plain")


urlpatterns = [
    path("plain", plain_view),
    path("", include([path("forge/lifecycle", forge_view)])),
    path("nested/", include([path("cbv", ForgeClassView.as_view())])),
]


class DrfUrls:  # a URLconf may be any object with urlpatterns
    urlpatterns = [path("plain", plain_view), path("drf", DrfLikeView.as_view())]


class PlainUrls:
    urlpatterns = [path("plain", plain_view)]


def ids_of(messages):
    return [m.id for m in messages]


def test_e007_when_forge_views_are_routed_without_forge_app_id(settings):
    settings.ROOT_URLCONF = __name__
    assert checks.forge_routes() == ["/forge/lifecycle", "/nested/cbv"]
    (error,) = checks.check_forge_urls()
    assert error.id == "atlassian_connect.E007"
    assert "/forge/lifecycle" in error.msg and "FORGE_APP_ID" in error.hint
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "FORGE_APP_ID": "ari:cloud:ecosystem::app/11111111-2222-4333-8444-555555555555",
    }
    assert checks.check_forge_urls() == []


def test_e007_sees_drf_views_by_their_authentication_classes(settings):
    settings.ROOT_URLCONF = DrfUrls
    assert checks.forge_routes() == ["/drf"]
    assert ids_of(checks.check_forge_urls()) == ["atlassian_connect.E007"]


def test_no_e007_without_forge_views(settings):
    settings.ROOT_URLCONF = PlainUrls
    assert checks.forge_routes() == []
    assert checks.check_forge_urls() == []


@pytest.mark.parametrize("value", ["not-an-app-id", ["ari:cloud:ecosystem::app/nope"], 42])
def test_e007_for_an_ill_formed_forge_app_id(settings, value):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": value}
    (error,) = checks.check_forge_settings()
    assert error.id == "atlassian_connect.E007" and "app.id" in error.hint


def test_no_e007_for_a_good_or_missing_forge_app_id(settings):
    assert checks.check_forge_settings() == []
    uuid = "11111111-2222-4333-8444-555555555555"
    for value in (uuid, "ari:cloud:ecosystem::app/" + uuid, [uuid]):
        settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": value}
        assert checks.check_forge_settings() == []


def test_w003_counts_installed_tenants_without_a_forge_installation(forge_host, site_factory):
    install_connect(site_factory(), forge_host.installation().id)
    install_connect(site_factory())
    install_connect(site_factory())
    (warning,) = checks.check_forge_readiness()
    assert warning.id == "atlassian_connect.W003"
    assert warning.msg.startswith("2 installed Connect tenant(s) have no Forge installation")
    assert "2027-01-31" in warning.msg
    assert "manage.py connect_tenants --forge" in warning.hint


def test_no_w003_when_all_are_linked_or_forge_is_off(forge_host, site, settings):
    install_connect(site, forge_host.installation().id)
    assert checks.check_forge_readiness() == []
    Tenant.objects.update(installation_id="")
    ForgeInstallation.objects.all().delete()
    assert ids_of(checks.check_forge_readiness()) == ["atlassian_connect.W003"]
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "FORGE_APP_ID": None}
    assert checks.check_forge_readiness() == []


def test_w003_is_a_deployment_check(forge_host, site):
    from django.core.checks import run_checks

    install_connect(site)
    assert "atlassian_connect.W003" not in ids_of(run_checks())
    assert "atlassian_connect.W003" in ids_of(run_checks(include_deployment_checks=True))
