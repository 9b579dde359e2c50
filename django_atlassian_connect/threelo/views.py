"""Linking a Django user's Atlassian account: connect, callback, disconnect.

Route them with ``path("", include("django_atlassian_connect.oauth_urls"))``
(``/oauth/connect``, ``/oauth/callback``, ``/oauth/disconnect``). The grant
belongs to the logged-in Django user: ``connect`` and ``disconnect`` are
behind ``login_required``; ``callback`` accepts only a state that this
session's user was given.

- ``connect`` makes a random ``state``, binds it to the session (with the
  ``redirect_uri`` it was issued for; several tabs may link at once, each
  state lives 10 minutes) and redirects to Atlassian's consent page.
- ``callback`` takes the ``state`` out of the session before anything else:
  compared in constant time, usable once, whatever happens next. A wrong,
  expired or replayed state is a 400 and nothing is stored; so is an error
  the authorization server sent back (``?error=access_denied``: the user
  declined), answered with a page that says so. Only then is the code
  exchanged, the sites read and the grant stored; the user is sent to
  ``OAUTH_REDIRECT_URL``.
- ``disconnect`` (POST, CSRF-protected) deletes the user's grants.

Refusals are an HTML page, or JSON ``{"detail", "code", "hint"}`` when the
client asks for JSON only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ..conf import connect_settings
from ..exceptions import ConnectClientError, ConnectError
from ..responses import error_response
from . import linking, tokens

__all__ = ["callback", "connect", "disconnect"]

logger = logging.getLogger("django_atlassian_connect")

#: The session key holding the states of the link flows under way.
SESSION_KEY = "django_atlassian_connect.oauth_states"
#: Seconds a state is accepted for, and the most kept per session.
STATE_LIFETIME = 600
MAX_STATES = 5

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p id="oauth-error-detail">{detail}</p><p>{hint}</p>
<p>Code: <code id="oauth-error-code">{code}</code></p>
<p><a href="{again}">Link your Atlassian account again</a></p></body></html>"""


def _refusal(request: HttpRequest, status: int, title: str, error: ConnectError) -> HttpResponse:
    """The error as JSON (a client asking for JSON only) or as a page; ``EXPOSE_HINTS`` off
    leaves the hint out of both."""
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return error_response(error, status)
    try:
        again = reverse("atlassian_oauth:connect")
    except NoReverseMatch:
        again = request.path.rsplit("/", 1)[0] + "/connect"
    hint = error.hint if connect_settings.EXPOSE_HINTS else ""
    page = format_html(
        PAGE, title=title, detail=error.detail, hint=hint, code=error.code, again=again
    )
    return HttpResponse(page, status=status, content_type="text/html; charset=utf-8")


def _remember_state(request: HttpRequest, state: str, redirect_uri: str) -> None:
    now = time.time()
    states = {
        key: entry
        for key, entry in dict(request.session.get(SESSION_KEY) or {}).items()
        if isinstance(entry, dict) and now - float(entry.get("at", 0)) < STATE_LIFETIME
    }
    states[state] = {"at": now, "redirect_uri": redirect_uri, "user": str(request.user.pk)}
    newest = sorted(states.items(), key=lambda item: item[1]["at"])[-MAX_STATES:]
    request.session[SESSION_KEY] = dict(newest)


def _take_state(request: HttpRequest, given: str) -> dict[str, Any] | None:
    """The entry of ``given`` if it is one of the session's live states; removed either way.

    Every stored state is compared (``hmac.compare_digest``), so the time taken
    does not depend on how much of a guess matched.
    """
    stored = dict(request.session.get(SESSION_KEY) or {})
    if not stored:
        return None
    now = time.time()
    found: dict[str, Any] | None = None
    for key, entry in list(stored.items()):
        if hmac.compare_digest(key.encode(), given.encode()):
            found = entry
            del stored[key]  # used once, whatever happens next
        elif not isinstance(entry, dict) or now - float(entry.get("at", 0)) >= STATE_LIFETIME:
            del stored[key]
    request.session[SESSION_KEY] = stored
    if found is None or now - float(found.get("at", 0)) >= STATE_LIFETIME:
        return None
    if found.get("user") != str(request.user.pk):
        return None
    return found


@never_cache
@require_GET
@login_required
def connect(request: HttpRequest) -> HttpResponse:
    """Redirect to Atlassian's consent page with a new ``state`` bound to the session."""
    try:
        redirect_uri = tokens.callback_url()
        state = secrets.token_urlsafe(32)
        url = tokens.authorize_url(state, redirect_uri=redirect_uri)
    except ConnectClientError as exc:
        return _refusal(request, 503, "Not configured", exc)
    _remember_state(request, state, redirect_uri)
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Check the state (once), then exchange the code and store the grant.

    Not behind ``login_required``: the state is the proof. It lives in the session
    of the logged-in user who asked ``connect`` for it and names that user, so a
    request without that session and user is a wrong state (400), never a detour
    through the login page.
    """
    entry = _take_state(request, str(request.GET.get("state") or ""))
    if entry is None:
        logger.warning(
            "OAuth 2.0 (3LO) callback for user %s with a wrong, expired or replayed state: "
            "refused, nothing stored",
            request.user.pk,
        )
        detail = (
            "The state of this callback is not one this session started, has expired "
            f"({STATE_LIFETIME // 60} minutes) or was used already. Nothing was stored."
        )
        return _refusal(
            request,
            400,
            "This link request is not valid",
            ConnectError("oauth_state_invalid", detail),
        )
    error = request.GET.get("error")
    if error:
        description = str(request.GET.get("error_description") or "")[:300]
        declined = error == "access_denied"
        logger.info("OAuth 2.0 (3LO) authorization for user %s: %s", request.user.pk, error[:100])
        refused = ConnectError(
            "oauth_authorization_failed",
            f"Atlassian answered {error[:100]}"
            + (f": {description}" if description else "")
            + ". Nothing was stored.",
            # None: the registry's hint (the developer console's settings).
            hint="To link your account, start again and choose Accept on Atlassian's consent page."
            if declined
            else None,
        )
        title = "Access was not granted" if declined else "Atlassian refused the authorization"
        return _refusal(request, 400, title, refused)
    code = request.GET.get("code")
    if not code:
        return _refusal(
            request, 400, "This link request is not valid", ConnectError("oauth_code_missing")
        )
    try:
        linking.link_account(request.user, code, redirect_uri=entry.get("redirect_uri"))
    except ConnectClientError as exc:
        # A network failure is one too (network_error, naming the host): nothing was stored.
        logger.warning("OAuth 2.0 (3LO) link for user %s failed: %s", request.user.pk, exc.code)
        return _refusal(request, 502, "Linking your Atlassian account failed", exc)
    return HttpResponseRedirect(resolve_url(connect_settings.OAUTH_REDIRECT_URL))


@never_cache
@require_POST
@login_required
def disconnect(request: HttpRequest) -> HttpResponse:
    """Delete the user's grants (``account_id`` in the form: that account's only)."""
    linking.disconnect(request.user, account_id=request.POST.get("account_id"))
    return HttpResponseRedirect(resolve_url(connect_settings.OAUTH_REDIRECT_URL))
