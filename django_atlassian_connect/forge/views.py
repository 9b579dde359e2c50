"""The endpoints Forge itself calls: lifecycle events and the scheduled trigger.

``path("forge/", include("django_atlassian_connect.forge.urls"))`` serves

- ``POST /forge/lifecycle``: ``avi:forge:installed:app`` and
  ``avi:forge:upgraded:app`` (manifest ``trigger`` -> ``endpoint`` with
  ``route: {path: /forge/lifecycle}``);
- ``POST /forge/scheduled``: the hourly ``scheduledTrigger``, whose only job
  is to bring a fresh app system token (``appSystemToken.enabled: true``).

Like the Connect lifecycle views (and django-anymail's webhooks): CSRF-exempt
(the FIT authenticates them, not a cookie), POST only, verify -> check the
body -> persist -> signal after commit, 204 at once. Nothing slow happens
inline: Forge waits 5 s and retries up to 4 times; the signals are where a
project enqueues its Celery tasks. Every answer is the final one: never a
redirect (Forge follows none).

Order matters for "a refusal writes nothing": the FIT is verified and the
body checked before the installation is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..conf import connect_settings
from ..exceptions import ForgeAuthError
from ..responses import error_response, forge_refusal_response
from . import events, invocation
from .context import ForgeContext

logger = logging.getLogger("django_atlassian_connect")

__all__ = ["ForgeEndpointView", "ForgeLifecycleView", "ForgeScheduledView"]

BODY_HINT = (
    "Forge delivers lifecycle events as a JSON object (eventType, id = the installation "
    "uuid, context, app, environment), at the top level or under 'payload'. Point only "
    "the lifecycle trigger's endpoint at this URL."
)


@method_decorator(csrf_exempt, name="dispatch")
class ForgeEndpointView(View):
    """Base of the endpoints a Forge trigger calls: POST, a verified FIT, then :meth:`handle`.

    A subclass implements ``handle(request, context, body)`` and returns the
    response; it calls :func:`events.admit` (record + ``forge_invoked``) once
    it has decided the delivery is acceptable.
    """

    http_method_names = ["post"]
    #: Declares the token kind to connect_doctor and the checks.
    connect_token_kind = "forge"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            body = self.read_body(request)
            context = invocation.verify_invocation(request)
            return self.handle(request, context, body)
        except ForgeAuthError as error:
            invocation.log_refusal(request, error)
            return forge_refusal_response(error)

    def read_body(self, request: HttpRequest) -> bytes:
        """The body, at most ``MAX_LIFECYCLE_BODY`` bytes (413 ``payload_too_large``)."""
        limit = connect_settings.MAX_LIFECYCLE_BODY
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise ForgeAuthError(
                "payload_too_large",
                f"The body has {length} bytes; at most {limit} (MAX_LIFECYCLE_BODY) are accepted.",
            )
        body = request.body
        if len(body) > limit:
            raise ForgeAuthError(
                "payload_too_large",
                f"The body has {len(body)} bytes; at most {limit} (MAX_LIFECYCLE_BODY) are accepted.",
            )
        return body

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        raise NotImplementedError


class ForgeLifecycleView(ForgeEndpointView):
    """``POST /forge/lifecycle``: Forge's app lifecycle events (spec 2.3).

    - installed / upgraded: the body's ``id`` must name the FIT's installation
      (else 400, nothing written); the installation is recorded (its system
      token stored), then ``forge_installed`` / ``forge_upgraded`` is sent
      once per event after commit (Forge's retries are recognised); 204.
    - another ``eventType``: recorded, logged, 204 (Forge may add events).
    - a body that is not a JSON object, or has no ``eventType``: 400.
    """

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        try:
            event = events.parse_lifecycle(body, context)
        except events.EventBodyError as error:
            logger.warning(
                "forge lifecycle body refused: installation=%s trace=%s detail=%s",
                context.installation_id,
                context.trace_id or "-",
                error.detail,
            )
            return body_error_response(error)
        installation = events.admit(context, request)
        if not event.known:
            logger.info(
                "forge lifecycle event %r for %s ignored: not one this app handles",
                event.event_type,
                context.installation_id,
            )
            return HttpResponse(status=204)
        logger.info(
            "forge %s for %s (retryCount %d) trace=%s",
            event.event_type,
            event.installation_id,
            event.retry_count,
            context.trace_id or "-",
        )
        events.announce_once(event, installation, context)
        return HttpResponse(status=204)


class ForgeScheduledView(ForgeEndpointView):
    """``POST /forge/scheduled``: the scheduled trigger (``interval: hour``).

    Its value is the app system token it carries: recording the invocation
    stores it when it lives longer than the stored one. The body is not read
    (its remote shape is unverified; the FIT names the installation). 204.
    """

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        events.admit(context, request)
        if context.system_token is None:
            logger.warning(
                "forge scheduled trigger for %s brought no app system token: enable "
                "auth.appSystemToken on the trigger's endpoint in manifest.yml",
                context.installation_id,
            )
        return HttpResponse(status=204)


def body_error_response(error: events.EventBodyError) -> JsonResponse:
    """400 ``payload_invalid``: a verified delivery whose body cannot be used."""
    refusal = ForgeAuthError("payload_invalid", error.detail, hint=BODY_HINT)
    return error_response(refusal, 400, **error.context)
