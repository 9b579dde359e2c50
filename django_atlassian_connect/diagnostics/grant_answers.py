"""The authorization server's side of ``connect_doctor credentials``: token answers and
stored 3LO grants.

A token endpoint answer (``POST {OAUTH_AUTH_URL}/oauth/token``) given with
``--body`` says whether a refresh token came (``offline_access``) or why none
will (``invalid_grant``); an ``OAuthGrant`` given with ``--grant`` says whether
the grant is revoked, expired, or lacks a refresh token. Access and refresh
tokens in an answer are never copied into the report.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..models.threelo import CONSENT_LIFETIME, REFRESH_TOKEN_INACTIVITY
from ..redaction import redact
from .report import ERROR, OK, WARNING, Report, dt

__all__ = ["analyse_grant", "analyse_token_answer", "is_token_endpoint", "read_body"]

#: Fields of a token answer never copied into the report.
SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "client_secret"})
WARN_BEFORE = timedelta(days=7)
_REVOKED_CAUSES = (
    "the user revoked the app's access (id.atlassian.com, Connected apps), a rotated refresh "
    "token was used again more than 10 minutes after its rotation (two workers refreshing "
    "the same grant: Atlassian then revokes the whole grant), the refresh token went unused "
    "for 90 days, or consent is more than 365 days old"
)


def is_token_endpoint(url: str | None) -> bool:
    """``…/oauth/token`` (not ``…/oauth/token/accessible-resources``)."""
    return bool(url) and urlsplit(str(url)).path.rstrip("/").endswith("/oauth/token")


def read_body(body: str | None) -> dict[str, Any] | None:
    """The answer's JSON object, ``{"text": …}`` for other text, ``None`` for nothing."""
    if body is None or not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        # An answer pasted with its status line, or cut short in a log: still its tokens.
        return {"text": redact(body.strip())[:300]}
    return data if isinstance(data, dict) else {"json": data}


def analyse_token_answer(report: Report, answer: dict[str, Any] | None, status: int | None) -> None:
    """What a token endpoint's answer says about the grant."""
    if not answer:
        return
    error = answer.get("error")
    description = str(answer.get("error_description") or "")[:200]
    if isinstance(error, str) and error == "invalid_grant":
        report.add(
            "oauth_grant_revoked",
            ERROR,
            "The authorization server answered invalid_grant"
            + (f" ({description})" if description else "")
            + ": the grant is gone. On a refresh: "
            + _REVOKED_CAUSES
            + ". On a code exchange: the code was used twice, is older than its few minutes, "
            "or redirect_uri differs from the authorize request's.",
            hint="The user must link the account again (consent). Never refresh one grant in two "
            "places at once: OAuthClient refreshes under a lock per grant, saves the new "
            "refresh token before using the new access token, and marks the grant revoked "
            "(signal oauth_grant_revoked) on invalid_grant.",
            cause="invalid_grant",
            status=status,
        )
        return
    if isinstance(error, str) and error:
        client = error in ("invalid_client", "access_denied", "unauthorized_client")
        report.add(
            "token_request_refused",
            ERROR,
            f"The authorization server refused the token request: {error[:100]}"
            + (f" ({description})" if description else "")
            + ".",
            hint=(
                "The client id or secret was not accepted: for 3LO, OAUTH_CLIENT_ID and "
                "OAUTH_CLIENT_SECRET from the developer console (the app's Settings); for a "
                "service account, its OAuth 2.0 credential (admin.atlassian.com), which can "
                "expire or be revoked."
                if client
                else "See the OAuth error and Atlassian's OAuth 2.0 documentation."
            ),
            cause=error[:100],
            status=status,
        )
        return
    if "access_token" not in answer:
        return
    scopes = str(answer.get("scope") or "").split()
    if "refresh_token" not in answer:
        report.add(
            "offline_access_missing",
            ERROR if "offline_access" not in scopes else WARNING,
            "The token answer has no refresh_token"
            + (
                ": the authorization did not ask for the offline_access scope"
                if "offline_access" not in scopes
                else " although offline_access was granted"
            )
            + ", so this access token (1 hour) is all there is; then the user must consent "
            "again. (A service account's client-credentials answer never has one: expected "
            "there.)",
            hint="Add offline_access to the scope of the authorize URL (OAUTH_SCOPES: the "
            "connect view adds it when missing) and have the user link the account again.",
            cause="no_refresh_token",
            scope=" ".join(scopes),
        )
        return
    report.add(
        "token_answer_ok",
        OK,
        f"A token answer with a refresh token (expires_in {answer.get('expires_in')!r}). "
        "Refresh tokens rotate: store the new one of every refresh before using the access token.",
        scope=" ".join(scopes),
    )


def analyse_grant(report: Report, grant: Any, now: float) -> None:
    """Is a stored ``OAuthGrant`` usable, and if not, why (status, refresh token, limits)."""
    moment = datetime.fromtimestamp(now, tz=_tz(grant))
    scopes = str(getattr(grant, "scopes", "") or "").split()
    has_refresh = bool(getattr(grant, "refresh_token", None))
    consented = getattr(grant, "consented_at", None)
    issued = getattr(grant, "refresh_token_issued_at", None)
    status = str(getattr(grant, "status", "") or "")
    last_error = str(getattr(grant, "last_error", "") or "")[:300]
    sites = getattr(grant, "sites", None)
    report.facts["grant"] = {
        "id": grant.pk,
        "user": getattr(grant, "user_id", None),
        "account_id": getattr(grant, "account_id", None),
        "status": status,
        "scopes": " ".join(scopes),
        "refresh_token": "stored" if has_refresh else "none",
        "access_expires_at": dt(getattr(grant, "access_expires_at", None)),
        "refresh_token_issued_at": dt(issued),
        "consented_at": dt(consented),
        "last_used_at": dt(getattr(grant, "last_used_at", None)),
        "last_error": last_error or None,
        "sites": [f"{s.cloud_id} {s.url}" for s in sites.all()] if sites is not None else None,
    }
    if status == "revoked":
        report.add(
            "oauth_grant_revoked",
            ERROR,
            f"Grant {grant.pk} is revoked"
            + (f" ({last_error})" if last_error else "")
            + ": Atlassian answered invalid_grant to a refresh, or the user disconnected. "
            "Causes of invalid_grant: " + _REVOKED_CAUSES + ".",
            hint="The user must link the account again (the connect view).",
            cause="grant_revoked",
        )
        return
    limits = _limits(consented, issued, has_refresh)
    if not has_refresh or "offline_access" not in scopes:
        report.add(
            "offline_access_missing",
            ERROR,
            f"Grant {grant.pk} has no refresh token"
            + ("" if "offline_access" in scopes else " (its scopes lack offline_access)")
            + ": it ends with its access token (1 hour), then the user must consent again.",
            hint="Keep offline_access in OAUTH_SCOPES (the connect view adds it when missing) "
            "and have the user link the account again.",
            cause="grant_without_refresh_token",
        )
    ended = [(name, when) for name, when in limits if when is not None and when <= moment]
    if status == "expired" or ended:
        name, when = ended[0] if ended else ("", None)
        report.add(
            "oauth_grant_expired",
            ERROR,
            f"Grant {grant.pk} has expired"
            + (f": {name} ({dt(when)})." if name else ".")
            + (f" Last error: {last_error}." if last_error else ""),
            hint="The user must link the account again. Keep used grants alive with the "
            "housekeeping refresh job (a refresh well before 90 days unused); nothing extends "
            "the 365 days after consent.",
            cause="consent_365_days" if "365" in name else ("unused_90_days" if name else status),
        )
        return
    soon = [
        (name, when) for name, when in limits if when is not None and when - WARN_BEFORE <= moment
    ]
    for name, when in soon:
        report.add(
            "oauth_grant_expiring",
            WARNING,
            f"Grant {grant.pk} ends soon: {name} ({dt(when)}).",
            hint="Refresh it (the housekeeping job does) or, for the 365-day limit, ask the "
            "user to link the account again before then.",
        )
    if not report.problems:
        report.add("oauth_grant_active", OK, f"Grant {grant.pk} is active and has a refresh token.")


def _limits(
    consented: datetime | None, issued: datetime | None, has_refresh: bool
) -> list[tuple[str, datetime | None]]:
    return [
        ("365 days after consent", consented + CONSENT_LIFETIME if consented else None),
        (
            "the refresh token unused for 90 days",
            issued + REFRESH_TOKEN_INACTIVITY if issued and has_refresh else None,
        ),
    ]


def _tz(grant: Any) -> Any:
    """The grant's time zone (UTC with USE_TZ), or ``None``: compare naive local times."""
    consented = getattr(grant, "consented_at", None)
    return consented.tzinfo if isinstance(consented, datetime) and consented.tzinfo else None
