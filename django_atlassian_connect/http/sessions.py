"""The sessions every outbound call goes through.

Default timeout (``HTTP_TIMEOUT``), a versioned User-Agent, and urllib3
``Retry`` for 429/502/503/504 that honours ``Retry-After`` (else
``X-RateLimit-Reset``; capped at ``MAX_RETRY_AFTER``) on idempotent methods.
:class:`RateLimitedSession` keeps one tenant's rate limits in the shared cache
(:mod:`~django_atlassian_connect.http.ratelimit`) and waits out its backoff
before sending. Network failures come out as
:class:`~django_atlassian_connect.exceptions.ConnectNetworkError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from .. import __version__
from ..conf import connect_settings
from ..exceptions import ConnectError
from . import ratelimit
from .network import network_error
from .pools import PooledAdapter

__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "CappedRetry",
    "RateLimitedSession",
    "RetryObserver",
    "TimeoutSession",
    "build_retry",
    "configure_session",
    "new_session",
]

USER_AGENT = f"django-atlassian-connect/{__version__} python-requests/{requests.__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


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
    """Mount retrying adapters on the process's shared connection pools
    (:mod:`~django_atlassian_connect.http.pools`) and set the User-Agent on ``session``."""
    adapter = PooledAdapter(max_retries=build_retry(methods=retry_methods, observer=observer))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def new_session(*, retry_methods: Collection[str] | None = None) -> TimeoutSession:
    session = TimeoutSession()
    configure_session(session, retry_methods=retry_methods)
    return session
