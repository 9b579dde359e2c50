"""Lifecycle callbacks and the descriptor endpoint.

Lifecycle views follow the webhook-view pattern: CSRF-exempt (they are
authenticated by JWT, not cookies), POST only, validate -> persist -> signal,
every delivery recorded.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .conf import connect_settings
from .connect import lifecycle
from .connect.descriptor import build_descriptor
from .connect.inbound import RequestQsh, get_raw_token
from .exceptions import ConnectAuthError
from .responses import refusal_response


class DescriptorView(View):
    """``GET /atlassian-connect.json``."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = JsonResponse(build_descriptor(), json_dumps_params={"indent": 2})
        # The product and browsers may fetch it cross-origin.
        response["Access-Control-Allow-Origin"] = "*"
        return response


@method_decorator(csrf_exempt, name="dispatch")
class LifecycleView(View):
    """``POST`` of one lifecycle event (``installed``, ``uninstalled``, ...)."""

    event_type: str = ""
    http_method_names = ["post", "options"]
    #: Lifecycle callbacks verify the request's own qsh (read by connect_doctor).
    connect_token_kind = "request"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = connect_settings.MAX_LIFECYCLE_BODY
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        try:
            if length > limit:
                raise ConnectAuthError(
                    "payload_too_large",
                    f"The {self.event_type} body has {length} bytes; at most {limit} are accepted.",
                )
            body = request.body
            if len(body) > limit:
                raise ConnectAuthError(
                    "payload_too_large",
                    f"The {self.event_type} body has {len(body)} bytes; at most {limit} are accepted.",
                )
            token = get_raw_token(request)
        except ConnectAuthError as error:
            lifecycle.record_refusal(self.event_type, None, error)
            return refusal_response(error)
        try:
            lifecycle.handle(
                self.event_type,
                body,
                token[0] if token else None,
                RequestQsh(request),
            )
        except ConnectAuthError as error:
            return refusal_response(error)
        return HttpResponse(status=204)
