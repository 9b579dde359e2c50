"""The endpoints Forge itself calls: lifecycle and product events, the scheduled
trigger, preUninstall and the data residency (realm migration) hooks.

``path("forge/", include("django_atlassian_connect.forge.urls"))`` serves

- ``POST /forge/lifecycle``: ``avi:forge:installed:app`` and
  ``avi:forge:upgraded:app`` (manifest ``trigger`` -> ``endpoint`` with
  ``route: {path: /forge/lifecycle}``);
- ``POST /forge/events``: product events (``avi:jira:created:issue``, ...),
  sent to ``signals.forge_event`` once per event (:mod:`.product_events`);
- ``POST /forge/scheduled``: the hourly ``scheduledTrigger``, whose only job
  is to bring a fresh app system token (``appSystemToken.enabled: true``);
- ``POST /forge/pre-uninstall``: ``preUninstall`` (:mod:`.uninstall`);
- ``/forge/realm-migration/<phase>``: the ``migration:dataResidency`` hooks
  (:mod:`.realm`).

An event that reaches the other events endpoint is not lost: a product event
at ``/forge/lifecycle`` is handled as a product event and a lifecycle event
at ``/forge/events`` as a lifecycle event, each with a log line saying where
its trigger should point.

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

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..conf import connect_settings
from ..exceptions import ConnectError, ForgeAuthError
from ..responses import error_response, forge_refusal_response
from . import events, invocation, product_events, realm, realm_steps, uninstall
from .context import ForgeContext

logger = logging.getLogger("django_atlassian_connect")

__all__ = [
    "ForgeEndpointView",
    "ForgeEventsView",
    "ForgeLifecycleView",
    "ForgePreUninstallView",
    "ForgeRealmMigrationView",
    "ForgeScheduledView",
]

BODY_HINT = (
    "Forge delivers lifecycle events as a JSON object (eventType, id = the installation "
    "uuid, context, app, environment), at the top level or under 'payload'. Point only "
    "the lifecycle trigger's endpoint at this URL."
)
EVENTS_HINT = (
    "Forge delivers a product event as a JSON object with its eventType "
    "(avi:<product>:<verb>:<noun>), at the top level or under 'payload'. Point only "
    "trigger endpoints at this URL."
)
PRE_UNINSTALL_HINT = (
    "Forge's preUninstall sends a JSON object (context.cloudId, context.moduleKey) or "
    "nothing; the FIT names the installation. Point only the preUninstall endpoint here."
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
      ``installed`` for an uninstalled installation id clears ``uninstalled_at``.
    - no ``eventType`` (the payload Forge's events reference documents): read
      as installed or upgraded from its shape (logged).
    - another ``avi:forge:*`` event: recorded, logged, 204 (Forge may add events).
    - a product event: handled as ``/forge/events`` would, and logged.
    - a body that is not a JSON object, or no event at all: 400.
    """

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        return handle_event(request, context, body, endpoint="lifecycle")


class ForgeEventsView(ForgeEndpointView):
    """``POST /forge/events``: product events (:mod:`.product_events`).

    204 once the receivers of ``forge_event`` ran (or for a retry of a
    delivered event, or for an uninstalled installation: not dispatched);
    409 ``forge_event_in_progress`` while another delivery runs them; 500
    ``forge_event_receiver_failed`` when one raised (Forge retries); 400 for
    a body without a Forge event name. A lifecycle event is handled as
    ``/forge/lifecycle`` would.
    """

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        return handle_event(request, context, body, endpoint="events")


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


def body_error_response(error: events.EventBodyError, hint: str = BODY_HINT) -> JsonResponse:
    """400 ``payload_invalid``: a verified delivery whose body cannot be used."""
    refusal = ForgeAuthError("payload_invalid", error.detail, hint=hint)
    return error_response(refusal, 400, **error.context)


class ForgePreUninstallView(ForgeEndpointView):
    """``POST /forge/pre-uninstall``: Forge's ``preUninstall`` (:mod:`.uninstall`).

    The invocation is recorded, ``uninstalled_at`` stamped and
    ``forge_pre_uninstall`` sent after commit, the first time only; 204 every
    time. A body that is not a JSON object or names another site: 400.
    """

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        try:
            uninstall.check_body(body, context)
        except events.EventBodyError as error:
            _log_body_refusal("preUninstall", context, error.detail)
            return body_error_response(error, PRE_UNINSTALL_HINT)
        events.admit(context, request)
        installation, stamped = uninstall.mark_uninstalled(context)
        logger.info(
            "forge preUninstall for %s: %s trace=%s",
            installation.installation_id,
            "uninstalled" if stamped else f"already uninstalled at {installation.uninstalled_at}",
            context.trace_id or "-",
        )
        return HttpResponse(status=204)


# dispatch() is overridden: csrf_exempt must mark it again (Forge sends no CSRF token).
@method_decorator(csrf_exempt, name="dispatch")
class ForgeRealmMigrationView(ForgeEndpointView):
    """``/forge/realm-migration/<phase>``: the data residency hooks (:mod:`.realm`).

    ``GET status``, ``POST`` the others (405 otherwise; 404 for another
    phase). 200 with ``{"installationId", "migrationId", "state"}`` (status:
    plus ``status`` and ``errorResponseCode``); a refusal carries Forge's
    ``errorResponseCode`` next to ``detail``/``code``/``hint``.
    """

    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = realm.PHASES.get(kwargs.get("phase", ""))
        if method is None:
            return error_response(ConnectError("realm_migration_phase_unknown"))
        if request.method != method:
            return HttpResponseNotAllowed([method])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.post(request, *args, **kwargs)

    def handle(self, request: HttpRequest, context: ForgeContext, body: bytes) -> HttpResponse:
        phase = self.kwargs["phase"]
        try:
            data = None if phase == "status" else _json_or_none(body)
            asked = realm.parse_request(phase, data, request.GET.dict())
            answer = realm_steps.run(asked, realm.get_handler(), context, request)
        except ForgeAuthError:
            raise  # the invocation's own refusals (database_unavailable, ...): post() answers
        except ConnectError as error:
            logger.warning(
                "forge realm migration %s refused: code=%s installation=%s detail=%s",
                phase,
                error.code,
                context.installation_id,
                error.detail,
                extra={"connect_code": error.code},
            )
            extra: dict[str, Any] = {"installationId": context.installation_id}
            if error.context.get("error_response_code"):
                extra["errorResponseCode"] = error.context["error_response_code"]
            return error_response(error, **extra)
        return JsonResponse(answer)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _log_body_refusal(what: str, context: ForgeContext, detail: str) -> None:
    logger.warning(
        "forge %s body refused: installation=%s trace=%s detail=%s",
        what,
        context.installation_id,
        context.trace_id or "-",
        detail,
    )


def handle_event(
    request: HttpRequest, context: ForgeContext, body: bytes, *, endpoint: str
) -> HttpResponse:
    """A verified event delivery at ``/forge/<endpoint>``: routed by its kind, not its URL."""
    try:
        data = events.event_object(body)
    except events.EventBodyError as error:
        _log_body_refusal(endpoint, context, error.detail)
        return body_error_response(error, BODY_HINT if endpoint == "lifecycle" else EVENTS_HINT)
    event_type = data.get("eventType")
    if endpoint == "events":
        lifecycle = (
            events.infer_lifecycle_type(data) is not None
            if event_type is None
            else isinstance(event_type, str)
            and event_type.startswith(product_events.LIFECYCLE_PREFIX)
        )
        if lifecycle:
            logger.warning(
                "forge lifecycle event %s reached /forge/events: handled as a lifecycle event; "
                "point the lifecycle trigger's endpoint at /forge/lifecycle",
                event_type or "(no eventType)",
            )
            return _lifecycle(request, context, data)
        return _product_event(request, context, data)
    if product_events.is_product_event(data):
        logger.warning(
            "forge product event %s reached /forge/lifecycle: handled as a product event; "
            "point its trigger's endpoint at /forge/events",
            event_type,
        )
        return _product_event(request, context, data)
    return _lifecycle(request, context, data)


def _lifecycle(request: HttpRequest, context: ForgeContext, data: dict[str, Any]) -> HttpResponse:
    try:
        event = events.lifecycle_event(data, context)
    except events.EventBodyError as error:
        _log_body_refusal("lifecycle", context, error.detail)
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
    if event.event_type == events.INSTALLED:
        uninstall.reinstate(installation, event_type=event.event_type)
    events.announce_once(event, installation, context)
    return HttpResponse(status=204)


def _product_event(
    request: HttpRequest, context: ForgeContext, data: dict[str, Any]
) -> HttpResponse:
    who: dict[str, Any] = {"installationId": context.installation_id}
    try:
        event = product_events.parse_product_event(data, context)
    except ConnectError as error:
        _log_body_refusal("event", context, error.detail)
        return error_response(error, **who)
    installation = events.admit(context, request)
    try:
        outcome = product_events.deliver(event, installation, context)
    except ConnectError as error:
        return error_response(error, **who)
    logger.info(
        "forge %s for %s (retryCount %d): %s trace=%s",
        event.event_type,
        event.installation_id,
        event.retry_count,
        outcome,
        context.trace_id or "-",
    )
    return HttpResponse(status=204)
