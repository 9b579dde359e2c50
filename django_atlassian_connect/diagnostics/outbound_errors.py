"""Why an outbound call failed, one explainer per error type.

The explainer is chosen from :data:`EXPLAINERS`, keyed by the error's class
(walking its MRO) and ``code``; each reads the attributes the error carries
(``method``, ``url``, ``status``, ``response``, ``product_message``,
``oauth_error``, ...), never its message.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from ..conf import connect_settings
from ..connect.descriptor import needed_scope
from ..exceptions import ConnectClientError, ConnectNetworkError, ImpersonationError
from ..http import ConnectAPIError
from ..models import AbstractTenant
from .facts import app_key_mismatch, describe_event, origin, refused_installs_since
from .report import ERROR, HINTS, Finding, default_hint, dt


@dataclass(frozen=True)
class Call:
    """What the explainers know besides the error: whose call, how, and when."""

    tenant: AbstractTenant
    mode: str  # "app" or "user"
    now: float

    @property
    def scopes(self) -> list[str]:
        return [str(s).upper() for s in connect_settings.SCOPES]


Explainer = Callable[[Any, Call], Finding]


def explain_outbound_error(
    exc: Exception,
    tenant: AbstractTenant | None = None,
    *,
    mode: str = "app",
    now: float | None = None,
) -> Finding:
    """Why an outbound call as the app (``mode="app"``) or as a user failed, as one finding.

    ``tenant`` defaults to the error's own ``tenant``. An error of no known type
    is raised again.
    """
    tenant = tenant if tenant is not None else getattr(exc, "tenant", None)
    explainer = explainer_for(exc)
    if explainer is None or tenant is None:
        raise exc
    return explainer(exc, Call(tenant, mode, time.time() if now is None else now))


def explainer_for(exc: BaseException) -> Explainer | None:
    """The table's explainer for ``exc``: by (class, code) first, then by class."""
    code = getattr(exc, "code", None)
    for cls in type(exc).__mro__:
        explainer = EXPLAINERS.get((cls, code)) or EXPLAINERS.get((cls, None))
        if explainer is not None:
            return explainer
    return None


# -- the grant (acting as a user) -----------------------------------------------------------


def _grant_not_allowed(exc: ImpersonationError, call: Call) -> Finding:
    """``unauthorized_client``: ACT_AS_USER not declared, or the site runs an older install."""
    declared = "ACT_AS_USER" in call.scopes
    return Finding(
        "act_as_user_missing",
        ERROR,
        f"The authorization server refused the grant ({exc.oauth_error or exc.code}): {exc.detail}",
        cause="install_not_upgraded" if declared else "scope_not_declared",
        details={
            "scopes": call.scopes,
            "status": exc.status,
            "explanation": (
                "SCOPES has ACT_AS_USER, so the site still runs an older install: update "
                "the app on the site so that a new 'installed' arrives."
                if declared
                else "SCOPES lacks ACT_AS_USER."
            ),
        },
    )


def _grant_refused(exc: ImpersonationError, call: Call) -> Finding:
    """Any other grant error: named as the authorization server (or we) named it."""
    return Finding(
        exc.code,
        ERROR,
        exc.detail,
        hint=exc.hint or default_hint(exc.code),
        cause=exc.code,
        details={
            "oauth_error": exc.oauth_error,
            "error_description": exc.oauth_error_description,
            "status": exc.status,
        },
    )


# -- the product's answers -------------------------------------------------------------------


def _request_line(exc: ConnectClientError) -> tuple[str, str]:
    return (exc.method or "GET").upper(), urlsplit(exc.url or "").path


def _details(exc: ConnectAPIError) -> dict[str, Any]:
    return {"status": exc.status, "product_says": exc.product_message}


def _product_clock_skew(response: requests.Response | None, now: float) -> float | None:
    """Product clock minus ours, from the response's ``Date`` header."""
    value = response.headers.get("Date") if response is not None else None
    if not value:
        return None
    try:
        product = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return product - now


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp (seconds) or a datetime as an aware datetime."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _unauthorized(exc: ConnectAPIError, call: Call) -> Finding:
    """401: the user's token refused; or as the app: the app key, the clocks, the secret."""
    method, path = _request_line(exc)
    details = _details(exc)
    skew = _product_clock_skew(exc.response, call.now)
    details["product_clock_skew_s"] = None if skew is None else int(skew)
    if call.mode == "user":
        return Finding(
            "bearer_refused",
            ERROR,
            f"{method} {path} -> 401: the product refused the user's access token.",
            cause="access_token_refused",
            details=details,
        )
    changed = app_key_mismatch(call.tenant)
    if changed is not None:
        changed.message = f"{method} {path} -> 401. {changed.message}"
        changed.details.update(details)
        return changed
    if skew is not None and abs(skew) > connect_settings.LEEWAY:
        return Finding(
            "clock_skew",
            ERROR,
            f"{method} {path} -> 401, and the product's clock (Date header) is "
            f"{int(skew)} s {'ahead of' if skew > 0 else 'behind'} ours: our tokens "
            "look issued in the future or already expired.",
            cause="server_clock",
            details=details,
        )
    # AppSession leaves what it signed with on the request (fingerprints, not secrets).
    request = exc.response.request if exc.response is not None else None
    signing = getattr(request, "connect_signing", None) or {}
    since = _as_datetime(signing.get("current_since"))
    refused = refused_installs_since(call.tenant, since)
    details.update(
        {
            "iss": connect_settings.APP_KEY,
            "secret": signing.get("fingerprint"),
            "secret_current_since": dt(since),
            "canonical_request": signing.get("canonical"),
            "refused_installs": [describe_event(e) for e in refused],
        }
    )
    return Finding(
        "signature_invalid",
        ERROR,
        f"{method} {path} -> 401. We signed with iss {connect_settings.APP_KEY!r} and "
        f"the shared secret {signing.get('fingerprint', '?')}"
        + (f" (current since {since:%Y-%m-%dT%H:%M:%SZ})" if since else "")
        + ", and our clock agrees with the product's: the site holds another shared "
        "secret (a newer 'installed' was missed"
        + (f" or refused: {refused[0].error_code}" if refused else "")
        + ").",
        hint="Reinstall (or update) the app on the site so that its 'installed' "
        "callback brings the current secret; check the lifecycle events.",
        cause="stale_secret",
        details=details,
    )


def _forbidden(exc: ConnectAPIError, call: Call) -> Finding:
    """403: a scope the descriptor lacks, or the site's install or permissions."""
    method, path = _request_line(exc)
    scopes = call.scopes
    needed, declared = needed_scope(method, path, scopes)
    who = "app" if call.mode == "app" else "user"
    return Finding(
        "scope_missing",
        ERROR,
        f"{method} {path} -> 403"
        + (
            f": SCOPES lacks {needed}, which this call needs."
            if not declared
            else f": SCOPES has {needed}, so the site still runs an install without it, "
            f"or the {who} lacks the product permission."
        ),
        cause=needed if not declared else "permission_or_not_upgraded",
        details={**_details(exc), "needed_scope": needed, "scopes": scopes},
    )


def _not_found(exc: ConnectAPIError, call: Call) -> Finding:
    method, path = _request_line(exc)
    return Finding(
        "not_found",
        ERROR,
        f"{method} {path} -> 404.",
        hint=f"Paths are relative to the baseUrl {call.tenant.base_url}; check the resource "
        "exists and is visible to the caller.",
        details=_details(exc),
    )


def _rate_limited(exc: ConnectAPIError, call: Call) -> Finding:
    method, path = _request_line(exc)
    retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
    return Finding(
        "rate_limited",
        ERROR,
        f"{method} {path} -> 429.",
        details={**_details(exc), "retry_after": retry_after},
    )


def _product_error(exc: ConnectAPIError, call: Call) -> Finding:
    method, path = _request_line(exc)
    return Finding(
        "product_error",
        ERROR,
        f"{method} {path} -> {exc.status}.",
        hint=exc.hint or HINTS["product_error"],
        details=_details(exc),
    )


# -- refused before sending, or never answered ----------------------------------------------


def _url_not_allowed(exc: ConnectClientError, call: Call) -> Finding:
    """Not under the baseUrl: said more precisely when it is the tenant's displayUrl."""
    display_url = call.tenant.display_url
    if exc.url and display_url and origin(exc.url) == origin(display_url):
        return Finding(
            "display_url_used",
            ERROR,
            f"{exc.url} is under the displayUrl {display_url}; the REST API is under the "
            f"baseUrl {call.tenant.base_url}. Nothing was sent.",
            cause="display_url_as_api_base",
            details={"base_url": call.tenant.base_url, "display_url": display_url},
        )
    return _not_sent(exc, call)


def _not_sent(exc: ConnectClientError, call: Call) -> Finding:
    """``tenant_not_installed``, ``secret_missing``, ...: the client refused to send."""
    return Finding(
        exc.code,
        ERROR,
        exc.detail,
        hint=exc.hint or default_hint(exc.code),
        details={"url": exc.url} if exc.url else {},
    )


def _unreachable(exc: requests.RequestException, call: Call) -> Finding:
    """No answer: our sessions raise ConnectNetworkError (with ``reason``), others raw ``requests``."""
    what = getattr(exc, "reason", "") or type(exc).__name__
    return Finding(
        "product_unreachable",
        ERROR,
        f"The site could not be reached: {what}.",
        details={"error": str(exc)[:300]},
    )


#: ``(error class, code) -> explainer``; ``code`` ``None`` is the class's default.
EXPLAINERS: dict[tuple[type[BaseException], str | None], Explainer] = {
    (ImpersonationError, "unauthorized_client"): _grant_not_allowed,
    (ImpersonationError, None): _grant_refused,
    (ConnectAPIError, "api_unauthorized"): _unauthorized,
    (ConnectAPIError, "api_forbidden"): _forbidden,
    (ConnectAPIError, "api_not_found"): _not_found,
    (ConnectAPIError, "api_rate_limited"): _rate_limited,
    (ConnectAPIError, None): _product_error,
    (ConnectNetworkError, None): _unreachable,
    (ConnectClientError, "url_not_allowed"): _url_not_allowed,
    (ConnectClientError, None): _not_sent,
    (requests.RequestException, None): _unreachable,
}
