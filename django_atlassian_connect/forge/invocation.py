"""Verify a Forge Invocation Token (FIT) exactly as the protocol asks (spec 3.5).

In order, each failure a coded :class:`~django_atlassian_connect.exceptions.ForgeAuthError`
(401, or 503 ``key_unavailable``):

1. ``Authorization: Bearer <one compact JWT>`` (``token_missing``, ``token_malformed``);
2. ``alg`` is RS256 and ``kid`` a short string, before any key lookup
   (``alg_not_allowed``, ``key_invalid``);
3. the key from the configured JWKS, never one a token names; an Isolated
   Cloud ``icLabel`` only when it is on ``FORGE_IC_LABELS``, checked before
   any fetch (``key_invalid``, ``key_unavailable``);
4. the signature (``signature_invalid``);
5. ``iss``, ``aud`` (the configured app id, a string: never a list),
   ``iat``/``nbf``/``exp`` with ``FORGE_LEEWAY``, ``exp - iat`` at most
   :data:`FIT_LIFETIME`, and ``jti`` (``claim_missing``, ``issuer_mismatch``,
   ``audience_invalid``, ``token_expired``, ``token_not_yet_valid``);
6. ``app.id == aud``, ``app.installationId`` an installation ARI,
   ``app.apiBaseUrl`` on ``FORGE_API_HOSTS`` without dot segments or an
   encoded ``/``/``.`` in its path (``product_host_not_allowed``);
7. optionally, a ``jti`` never seen before (``token_replayed``).

Nothing here writes to the database: a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from ..conf import connect_settings
from ..exceptions import ConnectAuthError, ForgeAuthError
from ..http import unsafe_path
from ..tokens import (
    RS256,
    ParsedToken,
    check_times,
    parse_token,
    require_claims,
    rs256_signature_valid,
)
from . import ids, jwks
from .context import ForgeContext

logger = logging.getLogger("django_atlassian_connect")

FIT_ISSUER = "forge/invocation-token"
REQUIRED_CLAIMS = ("iss", "aud", "iat", "nbf", "exp", "jti")
MAX_FIT_LENGTH = 16384
MAX_KID_LENGTH = 200
MAX_HEADER_TOKEN = 16384
MAX_LEEWAY = 30
#: Seconds from iat to exp of every FIT Atlassian documents and was seen to send
#: (spec 3.2: exp = iat + 25); a token claiming a longer life is refused.
FIT_LIFETIME = 25
_TRACE_ID = re.compile(r"[0-9a-fA-F]{16,32}")


def configured_app_ids() -> tuple[str, ...]:
    """``FORGE_APP_ID`` normalised to ARIs; ``ImproperlyConfigured`` when unset or ill-formed."""
    value = connect_settings.FORGE_APP_ID
    values = [value] if isinstance(value, str) else list(value or [])
    if not values:
        raise ImproperlyConfigured(
            'Forge invocations need ATLASSIAN_CONNECT["FORGE_APP_ID"]: the manifest\'s app.id '
            "(ari:cloud:ecosystem::app/<uuid>)."
        )
    try:
        return tuple(ids.normalise_app_id(str(v)) for v in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f'ATLASSIAN_CONNECT["FORGE_APP_ID"]: {exc}') from exc


def leeway() -> float:
    return min(float(connect_settings.FORGE_LEEWAY), MAX_LEEWAY)


@contextmanager
def _as_forge_refusal() -> Iterator[None]:
    """The shared token checks raise Connect refusals; answer with the Forge hint."""
    try:
        yield
    except ForgeAuthError:
        raise
    except ConnectAuthError as error:
        raise ForgeAuthError(error.code, error.detail, **error.extra) from error


def get_bearer_token(request: HttpRequest) -> str:
    """The FIT of ``Authorization: Bearer <token>``: one token, nothing else."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        raise ForgeAuthError("token_missing", "The request has no Authorization header.")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        raise ForgeAuthError(
            "token_missing",
            f"The Authorization scheme is {scheme[:20]!r}; Forge sends 'Bearer <FIT>'.",
        )
    if not value or value.strip() != value or any(c.isspace() for c in value):
        raise ForgeAuthError(
            "token_malformed", "After 'Bearer ' comes exactly one token, with no spaces."
        )
    return value


#: The placeholders of FORGE_IC_JWKS_URL_TEMPLATE: Atlassian's documented one and ours.
IC_LABEL_PLACEHOLDERS = ("{IC_LABEL}", "{icLabel}")


def ic_labels() -> frozenset[str]:
    """``FORGE_IC_LABELS``: the Isolated Cloud labels whose keys may be fetched."""
    value = connect_settings.FORGE_IC_LABELS or ()
    return frozenset([value] if isinstance(value, str) else (str(v) for v in value))


def _jwks_url(parsed: ParsedToken) -> str:
    """The configured JWKS; for Isolated Cloud, the set of a label on FORGE_IC_LABELS.

    ``icLabel`` is read before the signature is checked: whoever sends the
    token chooses it. Only a label on the list may pick a URL, so unsigned
    input never decides what is fetched or how many key sets are kept.
    """
    label = parsed.claims.get("icLabel")
    if label is None:
        return str(connect_settings.FORGE_JWKS_URL)
    template = connect_settings.FORGE_IC_JWKS_URL_TEMPLATE
    if not template:
        raise ForgeAuthError(
            "key_invalid",
            "The token is from Isolated Cloud (icLabel) and FORGE_IC_JWKS_URL_TEMPLATE is not set.",
        )
    if not isinstance(label, str) or not ids.IC_LABEL_RE.fullmatch(label):
        raise ForgeAuthError("key_invalid", "The token's icLabel is not a label (a-z 0-9 _ -).")
    if label not in ic_labels():
        # The detail does not list the configured labels: it goes back to the caller.
        raise ForgeAuthError(
            "key_invalid",
            f"The token's icLabel {label!r} is not on FORGE_IC_LABELS; nothing was fetched.",
            hint="An Isolated Cloud token names its key set by icLabel before its signature "
            "is checked, so only listed labels are fetched (an empty list accepts none). If "
            "this label is one Atlassian gave you at Isolated Cloud onboarding, add it to "
            "FORGE_IC_LABELS; otherwise the token was not sent by your Forge app.",
        )
    url = str(template)
    for placeholder in IC_LABEL_PLACEHOLDERS:
        url = url.replace(placeholder, label)
    return url


def _check_key_and_signature(parsed: ParsedToken, now: float) -> None:
    if parsed.alg != RS256:
        raise ForgeAuthError(
            "alg_not_allowed",
            f"The token's algorithm is {str(parsed.alg)[:20]!r}; Forge tokens are RS256 only.",
        )
    kid = parsed.header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise ForgeAuthError("key_invalid", "The token's header has no usable kid.")
    key = jwks.signing_key(kid, _jwks_url(parsed), now=now)
    if not rs256_signature_valid(parsed, key):
        raise ForgeAuthError(
            "signature_invalid",
            f"The RS256 signature does not verify with the JWKS key {kid[:80]!r}.",
        )


def _audience(claims: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    """``aud`` is exactly one configured app id, a string (spec 3.2), never a list."""
    aud = claims.get("aud")
    if isinstance(aud, str) and aud in allowed:
        return aud
    if isinstance(aud, list):
        raise ForgeAuthError(
            "audience_invalid",
            f"The token's aud is a list ({str(aud)[:120]}), not the app id.",
            hint="Forge Invocation Tokens carry aud as one string, the manifest's app.id: "
            "a list was not made by Forge for this app, even when it holds FORGE_APP_ID.",
        )
    shown = aud if isinstance(aud, str) else type(aud).__name__
    raise ForgeAuthError(
        "audience_invalid",
        f"The token's aud {str(shown)[:120]!r} is not FORGE_APP_ID ({', '.join(allowed)}).",
    )


def _check_app(claims: Mapping[str, Any], audience: str) -> None:
    app = claims.get("app")
    if not isinstance(app, dict):
        raise ForgeAuthError("claim_missing", "The token has no app claim.")
    if app.get("id") != audience:
        raise ForgeAuthError(
            "audience_invalid", "The token's app.id differs from its aud: not one app's token."
        )
    installation_id = app.get("installationId")
    if not ids.is_installation_ari(installation_id):
        raise ForgeAuthError(
            "claim_missing",
            "The token's app.installationId is missing or not an installation ARI "
            "(ari:cloud:ecosystem::installation/<uuid>).",
        )
    nested = app.get("installation")
    if isinstance(nested, dict) and nested.get("id") not in (None, installation_id):
        raise ForgeAuthError(
            "claim_missing", "app.installation.id and app.installationId disagree."
        )
    api_base_url = app.get("apiBaseUrl")
    if not isinstance(api_base_url, str) or not api_base_url:
        raise ForgeAuthError("claim_missing", "The token has no app.apiBaseUrl.")
    hosts = list(connect_settings.FORGE_API_HOSTS)
    if not ids.api_host_allowed(api_base_url, hosts):
        raise ForgeAuthError(
            "product_host_not_allowed",
            f"The token's app.apiBaseUrl {api_base_url[:120]!r} is not an https URL on "
            f"FORGE_API_HOSTS ({', '.join(hosts)}); no token is sent there.",
            installation_id=installation_id,
        )
    unsafe = unsafe_path(urlsplit(api_base_url).path)
    if unsafe:
        # ".../ex/jira/<cloudId>/.." would point our calls at another site.
        raise ForgeAuthError(
            "product_host_not_allowed",
            f"The token's app.apiBaseUrl {api_base_url[:120]!r} has {unsafe}; no token is "
            "sent there.",
            hint="Forge sends app.apiBaseUrl as https://api.atlassian.com/ex/<product>/"
            "<cloudId>: a path with '.', '..' or an encoded '/' or '.' (%2F, %2E) segment was "
            "not made by Forge.",
            installation_id=installation_id,
        )


def max_fit_lifetime() -> float:
    """``FORGE_MAX_FIT_LIFETIME``, never below :data:`FIT_LIFETIME` (what Forge documents).

    A setting because "25 s for every invocation type" is Atlassian's example
    and what was seen, not a guarantee: a deployment can follow Forge without
    a release of this package.
    """
    try:
        value = float(connect_settings.FORGE_MAX_FIT_LIFETIME)
    except (TypeError, ValueError):
        return float(FIT_LIFETIME)
    return max(value, float(FIT_LIFETIME)) if math.isfinite(value) else float(FIT_LIFETIME)


def _check_lifetime(claims: Mapping[str, Any]) -> None:
    """A FIT lives FIT_LIFETIME seconds; a longer-lived one was not issued by Forge."""
    lifetime = float(claims["exp"]) - float(claims["iat"])
    allowed = max_fit_lifetime()
    if lifetime > allowed:
        raise ForgeAuthError(
            "claim_missing",
            f"The token's exp is {lifetime:.10g} s after its iat; Forge issues invocation "
            f"tokens for {FIT_LIFETIME} s (FORGE_MAX_FIT_LIFETIME allows {allowed:g} s).",
            hint=f"Forge Invocation Tokens expire {FIT_LIFETIME} s after they are issued "
            "(exp = iat + 25): a longer-lived token was minted by something else, or "
            "its exp or iat was altered. If Forge itself now issues longer-lived tokens, "
            "raise FORGE_MAX_FIT_LIFETIME.",
        )


def _check_not_replayed(jti: str, expires: float, now: float) -> None:
    key = "atlassian_connect:forge_jti:" + hashlib.sha256(jti.encode("utf-8")).hexdigest()
    timeout = max(1, int(expires - now + leeway()) + 1)
    if not caches[connect_settings.FORGE_JWKS_CACHE_ALIAS].add(key, 1, timeout):
        raise ForgeAuthError("token_replayed", "This token's jti was seen before.")


def verify_fit(token: str, *, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid FIT for this app, or a coded ``ForgeAuthError``."""
    now = time.time() if now is None else now
    allowed = configured_app_ids()
    with _as_forge_refusal():
        parsed = parse_token(token, max_length=MAX_FIT_LENGTH)
    _check_key_and_signature(parsed, now)
    claims = parsed.claims
    with _as_forge_refusal():
        require_claims(parsed, REQUIRED_CLAIMS)
    if claims.get("iss") != FIT_ISSUER:
        raise ForgeAuthError(
            "issuer_mismatch",
            f"The token's iss is {str(claims.get('iss'))[:60]!r}, not {FIT_ISSUER!r}.",
        )
    audience = _audience(claims, allowed)
    with _as_forge_refusal():
        check_times(parsed, now=now, leeway=leeway())
    _check_lifetime(claims)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 128:
        raise ForgeAuthError("claim_missing", "The token's jti is not a short string.")
    _check_app(claims, audience)
    if connect_settings.FORGE_REJECT_REPLAYED_JTI:
        _check_not_replayed(jti, float(claims["exp"]), now)
    return claims


def _header_token(request: HttpRequest, name: str) -> str | None:
    """A bare OAuth token from ``x-forge-oauth-*``; a stray ``Bearer `` prefix is dropped."""
    value = request.META.get(name, "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value or len(value) > MAX_HEADER_TOKEN or any(c.isspace() for c in value):
        return None
    return value


def trace_id(request: HttpRequest) -> str | None:
    value = request.META.get("HTTP_X_B3_TRACEID", "")
    return value if _TRACE_ID.fullmatch(value) else None


def verify_invocation(request: HttpRequest, *, now: float | None = None) -> ForgeContext:
    """The :class:`ForgeContext` of a Forge invocation, or a coded ``ForgeAuthError``."""
    claims = verify_fit(get_bearer_token(request), now=now)
    return ForgeContext.from_claims(
        claims,
        system_token=_header_token(request, "HTTP_X_FORGE_OAUTH_SYSTEM"),
        user_token=_header_token(request, "HTTP_X_FORGE_OAUTH_USER"),
        trace_id=trace_id(request),
    )


def log_refusal(request: HttpRequest, error: ConnectAuthError) -> None:
    """One WARNING line per refused invocation: never a token, the trace id to correlate."""
    logger.warning(
        "forge invocation refused: code=%s method=%s path=%s trace=%s installation=%s "
        "detail=%s hint=%s",
        error.code,
        request.method,
        request.path,
        trace_id(request) or "-",
        getattr(error, "installation_id", None) or "-",
        error.detail,
        error.hint,
        extra={"connect_code": error.code},
    )
