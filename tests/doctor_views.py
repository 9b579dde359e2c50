"""A URLconf for the doctor's routing tests: views that declare their token kind
under other decorators, stacked above and below ``@connect_jwt_required``."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.response import Response
from rest_framework.views import APIView

from django_atlassian_connect.authentication import (
    ConnectContextJWTAuthentication,
    ConnectJWTAuthentication,
)
from django_atlassian_connect.decorators import connect_jwt_required


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@require_GET
@connect_jwt_required
def get_above(request: HttpRequest) -> HttpResponse:  # the example project's /hello
    return _ok(request)


@connect_jwt_required
@require_GET
def get_below(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@never_cache
@require_GET
@connect_jwt_required(context=True)
def context_under_two(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@connect_jwt_required(context=True)
@never_cache
def context_above_never_cache(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@login_required
@connect_jwt_required
def login_above(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@connect_jwt_required(context=True)
@login_required
def login_below(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@require_GET
def plain(request: HttpRequest) -> HttpResponse:
    return _ok(request)


class DrfContextOrSession(APIView):
    authentication_classes = [ConnectContextJWTAuthentication, SessionAuthentication]

    def get(self, request):
        return Response({})


class DrfRequestAndContext(APIView):
    authentication_classes = [ConnectJWTAuthentication, ConnectContextJWTAuthentication]

    def get(self, request):
        return Response({})


class DrfSessionOnly(APIView):
    authentication_classes = [SessionAuthentication]

    def get(self, request):
        return Response({})


@api_view(["GET"])
@authentication_classes([ConnectContextJWTAuthentication])
def drf_function_context(request):
    return Response({})


urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("get-above", get_above, name="get-above"),
    path("get-below", get_below, name="get-below"),
    path("context-under-two", context_under_two, name="context-under-two"),
    path("context-above-never-cache", context_above_never_cache),
    path("login-above", login_above),
    path("login-below", login_below),
    path("plain", plain, name="plain"),
    path("drf/context-or-session", DrfContextOrSession.as_view()),
    path("drf/request-and-context", DrfRequestAndContext.as_view()),
    path("drf/session-only", DrfSessionOnly.as_view()),
    path("drf/function-context", drf_function_context),
]
