"""Claim checks: times (with leeway), the qsh rule, the audience.

Each raises a coded ``ConnectAuthError``; the clock is injectable (``now``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from ..exceptions import ConnectAuthError
from ..qsh import CONTEXT_QSH
from .parse import ParsedToken, _number, _safe_str, require_claims


def check_times(parsed: ParsedToken, *, now: float | None = None, leeway: float = 30) -> None:
    """``exp`` and ``iat`` are required; ``nbf`` is checked when present."""
    require_claims(parsed, ("iat", "exp"))
    now = time.time() if now is None else now
    exp = _number(parsed, "exp")
    iat = _number(parsed, "iat")
    if now > exp + leeway:
        raise ConnectAuthError(
            "token_expired",
            f"The token expired {int(now - exp)} s ago (exp {int(exp)}, "
            f"now {int(now)}, leeway {leeway:g} s).",
            client_key=_safe_str(parsed.issuer),
            skew=now - exp,
        )
    if iat > now + leeway:
        raise ConnectAuthError(
            "token_not_yet_valid",
            f"The token was issued {int(iat - now)} s in the future (iat "
            f"{int(iat)}, now {int(now)}, leeway {leeway:g} s).",
            client_key=_safe_str(parsed.issuer),
            skew=iat - now,
        )
    if "nbf" in parsed.claims:
        nbf = _number(parsed, "nbf")
        if nbf > now + leeway:
            raise ConnectAuthError(
                "token_not_yet_valid",
                f"The token is not valid before {int(nbf)} (now {int(now)}, leeway {leeway:g} s).",
                client_key=_safe_str(parsed.issuer),
                skew=nbf - now,
            )


def check_qsh(
    parsed: ParsedToken,
    *,
    context: bool,
    matches: Callable[[str], bool] | None = None,
) -> None:
    """The qsh rule of the endpoint.

    ``context=True``: the endpoint takes context tokens and nothing else.
    ``context=False``: the qsh must be the hash of this request, for which
    ``matches(qsh)`` answers; a ``context-qsh`` token is refused.
    """
    qsh = parsed.claims.get("qsh")
    if qsh is None or qsh == "":
        raise ConnectAuthError(
            "qsh_missing", "The token has no qsh claim.", client_key=_safe_str(parsed.issuer)
        )
    if context:
        if qsh != CONTEXT_QSH:
            raise ConnectAuthError(
                "context_qsh_required",
                "This endpoint accepts context tokens (qsh 'context-qsh') only; "
                "this token is bound to one request URL.",
                client_key=_safe_str(parsed.issuer),
            )
        return
    if qsh == CONTEXT_QSH:
        raise ConnectAuthError(
            "context_qsh_not_allowed",
            "A context token (qsh 'context-qsh') was sent to an endpoint that "
            "requires the request's own qsh.",
            client_key=_safe_str(parsed.issuer),
        )
    if not isinstance(qsh, str) or matches is None or not matches(qsh):
        raise ConnectAuthError(
            "qsh_mismatch",
            "The token's qsh does not match this request's method, path and query.",
            client_key=_safe_str(parsed.issuer),
        )


def check_audience(parsed: ParsedToken, allowed: Collection[str]) -> None:
    """``aud`` (a string, or the first item of a list) is one of ``allowed``.

    A trailing ``/`` is ignored on both sides.
    """
    aud = parsed.claims.get("aud")
    if isinstance(aud, list):
        aud = aud[0] if aud else None
    wanted = {url.rstrip("/") for url in allowed}
    if not isinstance(aud, str) or aud.rstrip("/") not in wanted:
        raise ConnectAuthError(
            "audience_invalid",
            f"The token's aud {aud!r:.200} is not this app's base URL "
            f"({', '.join(sorted(wanted))}).",
            client_key=_safe_str(parsed.issuer),
        )
