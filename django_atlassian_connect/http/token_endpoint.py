"""One request to an OAuth 2.0 token endpoint, and one reading of its answer.

::

    answer = post_token_request(
        url, {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        encode="json", codes=TokenCodes("..._unavailable", "..._refused", "..._unavailable"),
        what=f"issue a token for service account {cid}",
    )
    answer.access_token, answer.expires_in

Every door that asks Atlassian's authorization servers for a token (the
Connect JWT-bearer grant, service-account client credentials, the 3LO code
exchange and refresh) sends its grant body through :func:`post_token_request`;
each keeps only that body and its error codes (:class:`TokenCodes`). The
rules, for all of them (RFC 6749 sections 5.1 and 5.2):

- **No secret travels with an error.** The request body holds a client secret,
  a refresh token or a signed assertion, and ``requests`` keeps it on its
  exceptions (``exc.request.body``). A network failure is raised as the door's
  error whose ``__cause__`` is a fresh exception of the same type with a
  message of ours (no request, no response), raised outside the ``except``
  block so ``__context__`` is empty too. An error answer is carried as
  ``response`` with its request body dropped; a 200 answer never is (it may
  hold a token).
- **Redirects are not followed**: a 307 would re-send the secret elsewhere.
- **5xx and 429 mean unavailable** (``codes.unavailable``; retried first when
  ``retry``), whatever error string they carry: on the token endpoint the
  status says whether to try again. Another error answer is
  ``codes.refused``, or the server's ``error`` itself when the door registered
  it (``codes.oauth_errors``); an error answer that names no ``error``
  (section 5.2 requires one: a proxy, a wrong URL) is ``codes.invalid``.
- **``access_token``** must be a non-empty string, else ``codes.invalid``.
- **``expires_in``**: missing means :data:`DEFAULT_EXPIRES_IN` (900 s);
  present, it must be a finite JSON number from 1 to :data:`MAX_EXPIRES_IN`,
  else ``codes.invalid``. Section 5.1 makes it optional, so a missing one
  cannot be an error; 900 s is the shortest lifetime Atlassian gives these
  tokens, and assuming too short a life costs one early renewal where
  assuming too long hands out an expired token. A present but unreadable
  value (a string, ``true``, ``0``, ``NaN``, a century) says the answer is not
  what we think it is, so we do not guess a lifetime for it.

Every error carries ``status`` (``None`` when nothing was received),
``oauth_error`` and ``oauth_error_description`` (``None`` when the server
named none) and the caller's ``context``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from ..exceptions import ConnectClientError
from .sessions import RETRY_STATUSES, new_session

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "MAX_EXPIRES_IN",
    "TokenAnswer",
    "TokenCodes",
    "post_token_request",
]

#: ``expires_in`` when the answer gives none (seconds; see the module doc).
DEFAULT_EXPIRES_IN = 900
#: The longest ``expires_in`` taken as meant (one year); more is an invalid answer.
MAX_EXPIRES_IN = 366 * 86400


@dataclass(frozen=True)
class TokenCodes:
    """The codes one door raises for the failures of its token request."""

    #: Nothing received, or a 5xx/429 answer.
    unavailable: str
    #: An error answer (4xx) whose ``error`` the door did not register as a code.
    refused: str
    #: A 200 that is not a token response, or an error answer naming no ``error``.
    invalid: str
    #: Error strings that are codes of the door's own (``invalid_grant``, ...).
    oauth_errors: Collection[str] = frozenset()


@dataclass(frozen=True)
class TokenAnswer:
    """A token response (RFC 6749 section 5.1). Tokens are kept out of ``repr()``."""

    access_token: str = field(repr=False)
    expires_in: int
    #: ``time.time()`` before the request was sent: count ``expires_in`` from here.
    sent_at: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""
    token_type: str = ""


def post_token_request(
    url: str,
    body: Mapping[str, str],
    *,
    codes: TokenCodes,
    what: str,
    encode: Literal["form", "json"] = "form",
    retry: bool = True,
    error: type[ConnectClientError] = ConnectClientError,
    context: Mapping[str, Any] | None = None,
) -> TokenAnswer:
    """POST ``body`` to the token endpoint ``url``; the answer, or ``error(code, ...)``.

    ``what`` completes "refused to ..." in messages (``"refresh the access token"``).
    ``retry=False``: not re-sent once sent (a single-use code); a connection
    that failed before sending is still retried.
    """
    context = {"method": "POST", "url": url, **(context or {})}
    # Only GET listed means no POST retry (an empty list would mean every method to urllib3).
    session = new_session(retry_methods={"POST"} if retry else {"GET"})
    as_json = encode == "json"
    sent_at = time.time()
    failed: type[requests.RequestException] | None = None
    try:
        with session:
            response = session.post(
                url,
                data=None if as_json else dict(body),
                json=dict(body) if as_json else None,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        failed = _requests_type(exc)  # the exception may hold the body: keep only its type
    if failed is not None:
        message = f"The request to {url} to {what} failed ({failed.__name__})."
        # Raised outside the except block: __context__ stays empty.
        raise error(
            codes.unavailable,
            message,
            status=None,
            oauth_error=None,
            oauth_error_description=None,
            **context,
        ) from _safe_cause(failed, message)

    try:
        answer = response.json()
    except ValueError:
        answer = None
    found = answer if isinstance(answer, dict) else {}
    if response.status_code != 200:
        _raise_error_answer(response, found, codes, what, error, context)

    def invalid(why: str) -> ConnectClientError:
        return error(
            codes.invalid,
            f"The answer of {url} to {what} is not a token response: {why}.",
            status=response.status_code,
            oauth_error=None,
            oauth_error_description=None,
            **context,
        )

    if not isinstance(answer, dict):
        raise invalid("not a JSON object")
    access_token = found.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise invalid("no access_token")
    expires_in = _expires_in(found.get("expires_in", DEFAULT_EXPIRES_IN))
    if expires_in is None:
        shown = type(found["expires_in"]).__name__
        raise invalid(f"expires_in ({shown}) is not a number of seconds from 1 to 1 year")
    refresh_token = found.get("refresh_token")
    return TokenAnswer(
        access_token=access_token,
        expires_in=expires_in,
        sent_at=sent_at,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        scope=str(found.get("scope") or ""),
        token_type=str(found.get("token_type") or ""),
    )


def _expires_in(value: Any) -> int | None:
    # bool is an int to Python, and json reads NaN/Infinity: neither is a lifetime.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value) if 1 <= value <= MAX_EXPIRES_IN else None


def _requests_type(exc: requests.RequestException) -> type[requests.RequestException]:
    # The session may raise a class made of ours and the requests one: name the latter.
    for kind in type(exc).__mro__:
        if kind.__module__ == requests.RequestException.__module__:
            return kind  # type: ignore[no-any-return]
    return requests.RequestException


def _safe_cause(kind: type[requests.RequestException], message: str) -> Exception:
    """An exception of ``kind`` with our message and no request: a cause safe to keep."""
    try:
        return kind(message)
    except Exception:  # a subclass with another constructor
        return requests.RequestException(f"{kind.__name__}: {message}")


def _raise_error_answer(
    response: requests.Response,
    answer: Mapping[str, Any],
    codes: TokenCodes,
    what: str,
    error: type[ConnectClientError],
    context: dict[str, Any],
) -> None:
    status = response.status_code
    oauth_error = answer.get("error")
    oauth_error = str(oauth_error)[:100] if oauth_error else None
    description = str(answer.get("error_description") or "")[:200] or None
    if status >= 500 or status in RETRY_STATUSES:
        code = codes.unavailable
    elif oauth_error is None:
        code = codes.invalid
    elif oauth_error in codes.oauth_errors:
        code = oauth_error
    else:
        code = codes.refused
    said = oauth_error or response.reason or "no error named"
    if description:
        said += f" ({description})"
    if response.request is not None:
        response.request.body = None  # the secret it carried; the error may be logged or pickled
    raise error(
        code,
        f"The authorization server at {context['url']} refused to {what}: {status} {said}.",
        status=status,
        response=response,
        oauth_error=oauth_error,
        oauth_error_description=description,
        **context,
    )
