"""The outbound layer: the one place ``requests`` sessions are configured.

Default timeout (``HTTP_TIMEOUT``), a versioned User-Agent, and urllib3
``Retry`` for 429/502/503/504 that honours ``Retry-After`` (else
``X-RateLimit-Reset``; capped at ``MAX_RETRY_AFTER``) on idempotent methods.
:class:`RateLimitedSession` keeps one tenant's rate limits in the shared cache
(:mod:`~django_atlassian_connect.ratelimit`) and waits out its backoff before
sending. Also the product's error answers: :class:`ConnectAPIError` (a
``requests.HTTPError``, so it lives with ``requests``); what their bodies say
(:func:`product_message`, :func:`product_says`) lives in :mod:`.errors`. The
session that binds a credential to one base URL: :mod:`.bound`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from .. import __version__, ratelimit
from ..codes import API_CODES, api_code_for_status
from ..conf import connect_settings
from ..exceptions import ConnectClientError, ConnectError
from .errors import product_message
from .errors import product_says as product_says  # re-exported
from .network import network_error

USER_AGENT = f"django-atlassian-connect/{__version__} python-requests/{requests.__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_ENCODED_SEPARATOR = re.compile(r"%2[ef]", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def unsafe_path(path: str) -> str | None:
    """What in a URL path could reach another resource than its text says, or ``None``.

    A ``.`` or ``..`` segment, also percent-encoded, climbs out of a base path
    (``/ex/jira/<cloudId>/..`` is another site); an encoded ``/`` or ``.``
    (``%2F``, ``%2E``, any case) inside a segment passes a prefix check and is
    decoded into a separator or a dot segment by some servers and proxies.
    """
    for segment in path.split("/"):
        if unquote(segment) in (".", ".."):
            return f"the dot segment {segment[:40]!r}"
        if _ENCODED_SEPARATOR.search(segment):
            return f"an encoded '/' or '.' in the segment {segment[:40]!r}"
    return None


def refuse_unsafe_path(
    url: str, method: str | bytes, who: str, *, url_hint: str = "", **context: Any
) -> None:
    """``url_not_allowed`` before sending, when the path of ``url`` has :func:`unsafe_path`.

    ``url_hint``: the session's own advice on URLs, added to the hint.
    """
    unsafe = unsafe_path(urlsplit(url).path)
    if unsafe is None:
        return
    verb = (method.decode() if isinstance(method, bytes) else method).upper()
    raise ConnectClientError(
        "url_not_allowed",
        f"Refusing to send {who} to {url}: its path has {unsafe}; nothing was sent.",
        hint="Dot segments and '/' or '.' percent-encoded in a path segment (%2F, %2E) can "
        "make the server read another path than the one checked: pass such values as query "
        f"parameters, or address the resource by its id or key. {url_hint}".strip(),
        method=verb,
        url=url,
        **context,
    )


class ConnectAPIError(ConnectClientError, requests.HTTPError):
    """The product answered an outbound call with an error status.

    ``ConnectAPIError(detail=None, *, response, tenant=None, hint=None, **context)``:
    the code follows from the status (``api_unauthorized`` 401,
    ``api_forbidden`` 403, ``api_not_found`` 404, ``api_rate_limited`` 429,
    ``api_error`` for the rest), so the first argument is the detail.
    Carries ``method``, ``url``, ``status`` (also ``status_code``),
    ``response``, ``request``, ``tenant``, ``product_message`` (what the
    product's body says, ``""`` if nothing readable) and a ``hint`` naming the
    likely causes. Also a :class:`requests.HTTPError`. Importable from
    :mod:`django_atlassian_connect.exceptions` too.
    """

    codes = API_CODES

    product_message: str = ""

    def __init__(
        self,
        detail: str | None = None,
        *,
        response: requests.Response,
        tenant: Any = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        request = response.request
        if request is not None:
            context.setdefault("method", (request.method or "GET").upper())
            context.setdefault("url", request.url)
        context.setdefault("product_message", product_message(response))
        super().__init__(
            api_code_for_status(response.status_code),
            detail,
            hint=hint,
            status=response.status_code,
            response=response,
            tenant=tenant,
            **context,
        )
        # requests.HTTPError's own attribute; RequestException.__init__ left it None.
        self.request = request

    @property
    def status_code(self) -> int:
        """The status the product answered (the ``api_*`` code's own may be 0)."""
        return int(self.status or 0)


#: ``observer(headers, status)``: told of every answer urllib3 retries (each 429).
RetryObserver = Callable[[Mapping[str, str], int], None]


class CappedRetry(Retry):
    """A ``Retry`` that does not wait longer than ``max_retry_after`` seconds.

    The wait is ``Retry-After`` (seconds or an HTTP-date; ``Beta-Retry-After``
    too), else the time until ``X-RateLimit-Reset`` (or ``Beta-``); a garbage
    value is ignored. A longer wait ends the retries: the caller gets the
    429/503 at once instead of a request that hangs for minutes.
    ``observer`` sees each answer that is retried (the session's own response
    hook sees the last one), so a 429 is recorded even when a retry then succeeds.
    """

    max_retry_after: float = 30
    observer: RetryObserver | None = None

    def new(self, **kw: Any) -> CappedRetry:
        new = super().new(**kw)
        new.max_retry_after = self.max_retry_after
        new.observer = self.observer
        return new  # type: ignore[return-value]

    def get_retry_after(self, response: Any) -> float | None:
        # urllib3's own parser raises on a garbage Retry-After and knows no reset header.
        return ratelimit.retry_wait(response.headers)

    def increment(  # type: ignore[override]
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        response = kwargs.get("response")
        if response is not None:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                raise MaxRetryError(
                    kwargs.get("_pool"),  # type: ignore[arg-type]
                    url or "",
                    ResponseError(f"Retry-After {retry_after:g} s exceeds MAX_RETRY_AFTER"),
                )
        retry = super().increment(method, url, *args, **kwargs)
        # Only an answer that is retried: the last one (retries exhausted, or a
        # wait too long) is returned to the session, whose response hook sees it.
        if response is not None and self.observer is not None:
            self.observer(response.headers, response.status)
        return retry


def build_retry(
    *,
    methods: Collection[str] | None = None,
    total: int | None = None,
    observer: RetryObserver | None = None,
) -> Retry:
    retry = CappedRetry(
        total=connect_settings.HTTP_RETRIES if total is None else total,
        connect=2,
        read=0,
        status_forcelist=sorted(RETRY_STATUSES),
        allowed_methods=frozenset(methods)
        if methods is not None
        else Retry.DEFAULT_ALLOWED_METHODS,
        backoff_factor=0.5,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.max_retry_after = connect_settings.MAX_RETRY_AFTER
    retry.observer = observer
    return retry


class TimeoutSession(requests.Session):
    """A session with a default timeout for every request."""

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__()
        self.default_timeout = connect_settings.HTTP_TIMEOUT if timeout is None else timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        """As ``requests``, with the default timeout; a network failure raises
        :class:`~django_atlassian_connect.exceptions.ConnectNetworkError`."""
        kwargs.setdefault("timeout", self.default_timeout)
        try:
            return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        except ConnectError:
            raise  # ConnectAPIError is a requests.HTTPError too: ours already
        except requests.RequestException as exc:
            # The prepared request holds the body (a token request's client_secret)
            # and the headers (credentials): the chained cause must not keep them.
            exc.request = None
            raise network_error(exc, method, url, kwargs["timeout"]) from exc


class RateLimitedSession(TimeoutSession):
    """A session whose calls count against one tenant's rate limits.

    With a ``rate_limit_key`` (the tenant's ``clientKey``), every answer's
    rate-limit headers are recorded in the shared cache and a 429 starts a
    backoff that every process honours: before sending, the session sleeps
    out a backoff of up to ``MAX_RETRY_AFTER`` seconds, or raises
    :class:`~django_atlassian_connect.exceptions.RateLimitBackoffError`
    (nothing sent). ``sleep`` and ``clock`` are injectable for tests.
    Its retrying adapters (:func:`configure_session`) and its first response
    hook record every answer, the retried ones included.
    """

    rate_limit_key: str | None = None

    def __init__(
        self,
        timeout: float | None = None,
        *,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(timeout)
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        configure_session(self, observer=self.record_rate_limit)
        # First among the response hooks: recorded before a subclass's hook raises.
        self.hooks["response"].append(self._record_response)

    def _record_response(
        self, response: requests.Response, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self.record_rate_limit(response.headers, response.status_code)
        return response

    def rate_limit_context(self) -> dict[str, Any]:
        """What a refusal names besides method and URL (e.g. ``tenant``)."""
        return {}

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        key = self.rate_limit_key
        if key:
            context = {
                **self.rate_limit_context(),
                "method": (method.decode() if isinstance(method, bytes) else method).upper(),
                "url": url.decode() if isinstance(url, bytes) else url,
            }
            ratelimit.wait_for_backoff(
                key,
                max_wait=float(connect_settings.MAX_RETRY_AFTER),
                sleep=self.sleep,
                clock=self.clock,
                **context,
            )
        return super().request(method, url, *args, **kwargs)

    def record_rate_limit(self, headers: Mapping[str, str], status: int) -> None:
        if self.rate_limit_key:
            ratelimit.record(self.rate_limit_key, headers, status, now=self.clock())


def configure_session(
    session: requests.Session,
    *,
    retry_methods: Collection[str] | None = None,
    observer: RetryObserver | None = None,
) -> requests.Session:
    """Mount retrying adapters and set the User-Agent on ``session``."""
    adapter = HTTPAdapter(max_retries=build_retry(methods=retry_methods, observer=observer))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def new_session(*, retry_methods: Collection[str] | None = None) -> TimeoutSession:
    session = TimeoutSession()
    configure_session(session, retry_methods=retry_methods)
    return session
