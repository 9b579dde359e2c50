"""connect_doctor reads the token kind a view declares (``connect_token_kind``),
whatever decorators are stacked around it; never a decorator's closure."""

from __future__ import annotations

import pytest

from django_atlassian_connect import diagnostics
from django_atlassian_connect.authentication import (
    ConnectContextJWTAuthentication,
    ConnectJWTAuthentication,
)
from tests import doctor_views
from tests.doctor_support import run_doctor_json

pytestmark = pytest.mark.urls("tests.doctor_views")


doctor = run_doctor_json


def test_the_decorator_and_the_drf_classes_declare_their_kind():
    assert doctor_views.get_above.connect_token_kind == "request"
    assert doctor_views.context_under_two.connect_token_kind == "context"
    assert ConnectJWTAuthentication.connect_token_kind == "request"
    assert ConnectContextJWTAuthentication.connect_token_kind == "context"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/get-above", "request"),  # @require_GET above: the closure is hidden
        ("/get-below", "request"),
        ("/context-under-two", "context"),  # @never_cache and @require_GET above
        ("/context-above-never-cache", "context"),
        ("/login-above", "request"),
        ("/login-below", "context"),
        ("https://app.example.com/get-above?a=1", "request"),
        ("/drf/context-or-session", "context"),  # a session class takes no Connect token
        ("/drf/request-and-context", "request"),  # not context-only
        ("/drf/function-context", "context"),  # @api_view + @authentication_classes
        ("/installed", "request"),  # lifecycle views
        ("/enabled", "request"),
        ("/drf/session-only", None),
        ("/plain", None),
    ],
)
def test_endpoint_kind_reads_the_marker(url, kind):
    assert diagnostics.endpoint_kind(url)[0] == kind


def test_endpoint_kind_names_the_view_or_nothing():
    assert diagnostics.endpoint_kind("/get-above") == ("request", "get-above")
    assert diagnostics.endpoint_kind("/no/such/page") == (None, "")


def test_routing_reads_no_closure():
    from pathlib import Path

    source = Path(diagnostics.__file__).parent.joinpath("routing.py").read_text(encoding="utf-8")
    for word in ("getclosurevars", "co_freevars", "__closure__"):
        assert word not in source


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/get-above", "/get-below", "/login-above"])
def test_context_token_on_a_page_under_require_get(installed_site, url):
    # The example project's /hello (@require_GET over @connect_jwt_required) said
    # "Healthy" for a context token: the view refuses it.
    token = installed_site.context_token()
    status, report = doctor("token", token, "--url", url)
    assert status == 1
    assert (report["code"], report["cause"]) == ("context_qsh_not_allowed", "context_token_on_page")
    assert report["facts"]["endpoint"].endswith(": request tokens")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/context-under-two", "/login-below", "/drf/function-context"])
def test_context_views_under_other_decorators(installed_site, url):
    status, report = doctor("token", installed_site.context_token(), "--url", url)
    assert status == 0, report["findings"]
    page_token = installed_site.page_token(url)
    status, report = doctor("token", page_token, "--url", url)
    assert (report["code"], report["cause"]) == (
        "context_qsh_required",
        "request_token_on_context_view",
    )


@pytest.mark.django_db
def test_the_view_answers_what_the_doctor_says(installed_site):
    response = installed_site.client.get("/get-above", {"jwt": installed_site.context_token()})
    assert response.status_code == 401
    assert response.json()["code"] == "context_qsh_not_allowed"
