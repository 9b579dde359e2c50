"""One ``requests.Session`` that sends one credential under one base URL only.

Every credential this package sends goes through a :class:`BoundSession`: a
Connect app JWT or impersonation token to the tenant's ``baseUrl``
(:class:`~django_atlassian_connect.client.ConnectSession`), and, through
``https://api.atlassian.com``, a Forge app system token, a user's OAuth 2.0
(3LO) access token, a scoped API token or a service account's bearer token::

    session = BoundSession(
        "https://api.atlassian.com/ex/jira/<cloudId>",
        lambda: f"Bearer {token}",
        who="the OAuth 2.0 token of alice",
        context={"grant": grant, "cloud_id": cloud_id},
    )
    session.get("/rest/api/3/myself")            # relative to the base URL
    session.get(session.base_url + "/rest/api/3/myself")  # or a full URL under it

What it guarantees, for every credential alike:

- it comes from the one outbound factory (:mod:`django_atlassian_connect.http`:
  timeout, versioned User-Agent, retries honouring ``Retry-After``);
- a relative path resolves under ``base_url`` (the base path given again is
  not doubled); a full URL must be under it (same scheme, host and port, path
  below the base path, no ``.``/``..`` segment and no ``%2F``/``%2E`` in a
  segment, no user info) or the request is refused with ``url_not_allowed``
  before a byte is sent;
- the ``Authorization`` header is set per request by :meth:`authorize`, never
  kept in ``session.headers``; a redirect under ``base_url`` is authorized
  again for its new URL, a redirect away from it is followed without it;
- an error status raises :class:`~django_atlassian_connect.http.ConnectAPIError`
  (unless ``raise_for_status=False``) whose hint :meth:`hint_for` writes;
- ``context`` becomes attributes of every error raised (``exc.tenant``,
  ``exc.grant``, ``exc.installation``, ...). ``repr()`` and messages never
  show a credential;
- with a ``rate_limit_key`` (the site's ``clientKey``), answers' rate-limit
  headers are recorded and a 429's backoff is honoured by every process
  (:class:`~django_atlassian_connect.http.RateLimitedSession`).

Subclasses adapt four hooks: :meth:`check_base_url` (is the base URL still
allowed, e.g. by a setting), :meth:`authorize` (sign, or renew a token
before use), :meth:`on_error_response` (e.g. drop a refused token) and
:meth:`hint_for` (what an error status means for this credential).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from ..exceptions import ConnectAPIError, ConnectClientError
from .errors import WIKI_PATHS, default_hint
from .sessions import RateLimitedSession
from .targets import origin, refuse_unsafe_path, unsafe_path

__all__ = ["BoundSession", "origin"]

logger = logging.getLogger("django_atlassian_connect")


class BoundSession(RateLimitedSession):
    """A ``requests.Session`` that sends one credential to one base URL only.

    ``BoundSession(base_url, authorization, *, who, context=None,
    raise_for_status=True, rate_limit_key=None, sleep=None, clock=None)``:
    ``authorization()`` returns the full ``Authorization`` header value
    (``"Bearer …"``, ``"Basic …"``) and is called for each request (and again
    for a redirect that stays under ``base_url``); it may raise a
    ``ConnectClientError`` to refuse the call before anything is sent. A
    subclass that signs each request itself overrides :meth:`authorize` and
    passes ``None``. ``who`` names the credential in messages ("installation
    X's token"); ``context`` becomes attributes of the errors raised.
    ``rate_limit_key``: the site whose rate limits the calls count against
    (``None``: not kept); ``sleep`` and ``clock`` replace ``time.sleep`` and
    ``time.time`` in tests.
    """

    #: The fix named when a URL outside ``base_url`` is refused.
    url_hint = "Use a path relative to the base URL, e.g. '/rest/api/3/myself'."
    #: What the base URL is called in messages.
    base_name = "the base URL"
    #: How Confluence paths are written under ``base_url`` (for the 404 hint).
    wiki_paths = WIKI_PATHS

    def __init__(
        self,
        base_url: str,
        authorization: Callable[[], str] | None,
        *,
        who: str,
        context: Mapping[str, Any] | None = None,
        raise_for_status: bool = True,
        rate_limit_key: str | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(sleep=sleep, clock=clock)
        self.rate_limit_key = rate_limit_key
        self.base_url = base_url.rstrip("/")
        self.base_origin = origin(self.base_url)
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.authorization = authorization
        self.who = who
        #: Whom a resource must be visible to (the 404 hint); a subclass may name the user.
        self.caller = who
        self.context: dict[str, Any] = dict(context or {})
        self.raise_for_status = raise_for_status
        self.hooks["response"].append(self._check_response)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.who} {self.base_url}>"

    # -- URLs ------------------------------------------------------------------

    def resolve(self, url: str) -> str:
        """A path relative to ``base_url`` becomes a full URL under it."""
        if urlsplit(url).scheme:
            return url
        path = url if url.startswith("/") else "/" + url
        # The base path given again ("/wiki/rest/..." for a ".../wiki" baseUrl,
        # "/ex/jira/<cloudId>/rest/..." on the gateway): do not double it.
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            path = path[len(self.base_path) :]
        return self.base_url + path

    def is_allowed_url(self, url: str) -> bool:
        """Under ``base_url``: same scheme, host and port, path below its path."""
        try:
            parts = urlsplit(url)
            # User info: the request would carry a second credential, from the URL.
            if origin(url) != self.base_origin or parts.username or parts.password:
                return False
        except ValueError:
            return False
        path = parts.path
        # "/ex/jira/A/../B" would reach another site's cloudId: no dot segments at all.
        if unsafe_path(path):
            return False
        return path == self.base_path or path.startswith(self.base_path + "/")

    # -- hooks for subclasses ------------------------------------------------------

    def check_base_url(self, method: str | None, url: str | None) -> None:
        """Raise ``ConnectClientError`` when ``base_url`` may no longer be used (default: no check)."""

    def authorize(self, prepared: requests.PreparedRequest) -> None:
        """Set the ``Authorization`` header of a request to ``base_url``."""
        if self.authorization is None:  # pragma: no cover - a subclass signs instead
            raise NotImplementedError("pass authorization or override authorize()")
        prepared.headers["Authorization"] = self.authorization()

    def on_error_response(self, response: requests.Response) -> None:
        """Called for every error status before it is raised (e.g. to drop a refused token)."""

    def hint_for(self, response: requests.Response) -> str:
        """The fix for an error status; ``""``: the code's default hint.

        A subclass explains what its credential makes of a status and leaves the
        rest here (:func:`~django_atlassian_connect.http.errors.default_hint`).
        """
        return default_hint(
            response,
            where=f"{self.base_name} {self.base_url}",
            caller=self.caller,
            now=self.clock(),
            paths=self.wiki_paths,
        )

    # -- requests hooks ----------------------------------------------------------

    def rate_limit_context(self) -> dict[str, Any]:
        return dict(self.context)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        if isinstance(url, bytes):
            url = url.decode("utf-8")
        # As given: preparing the request decodes %2E and drops literal dot segments.
        refuse_unsafe_path(url, method, self.who, url_hint=self.url_hint, **self.context)
        return super().request(method, self.resolve(url), *args, **kwargs)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        url, method = prepared.url or "", prepared.method
        self.check_base_url(method, url)
        if not self.is_allowed_url(url):
            raise ConnectClientError(
                "url_not_allowed",
                f"Refusing to send {self.who} to {url}: it is not under {self.base_name} "
                f"{self.base_url}; nothing was sent.",
                hint=self.url_hint,
                method=method,
                url=url,
                **self.context,
            )
        self.authorize(prepared)
        return prepared

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """On a redirect: the credential again under ``base_url``, otherwise none."""
        prepared_request.headers.pop("Authorization", None)
        if self.is_allowed_url(prepared_request.url or ""):
            self.authorize(prepared_request)
        else:
            logger.info("redirect to %s: sent without %s", prepared_request.url, self.who)

    def _check_response(
        self, response: requests.Response, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if response.status_code < 400 or response.is_redirect:
            return response
        self.on_error_response(response)
        if not self.raise_for_status:
            return response
        request = response.request
        raise ConnectAPIError(
            f"{request.method} {request.url} -> {response.status_code} {response.reason}.",
            response=response,
            hint=self.hint_for(response) or None,  # None: the code's default hint
            **self.context,
        )
