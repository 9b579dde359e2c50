"""503 with ``Retry-After``, not 500, while the database or the cache is down.

A view that cannot reach PostgreSQL (a restart, a failover, a full
connection pool) raises ``OperationalError``; one that cannot reach Redis
raises redis-py's ``ConnectionError``. Unhandled, both are a 500 with an
HTML page: the product reports the app as broken and does not retry a
webhook, and Forge reads a 500 as a failed invocation. The outage is
temporary, so the honest answer is 503 with ``Retry-After``, which the
product, Forge and browsers retry::

    MIDDLEWARE = [
        ...,
        "django_atlassian_connect.middleware.ServiceUnavailableMiddleware",
    ]

The body is the package's refusal body, ``{"detail", "code", "hint"}``, with
the code ``database_unavailable`` or ``cache_unavailable``; one ``WARNING``
line is logged per answer (the exception's type and the first line of its
message, no traceback). Any other exception, ``IntegrityError`` and the rest of the
database's programming errors included, is left to Django: those are bugs,
not outages.

Only exceptions raised by views reach ``process_exception``: list the
middleware last so it sees them before any other middleware answers.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from .exceptions import ConnectAuthError
from .responses import refusal_response

logger = logging.getLogger("django_atlassian_connect")

__all__ = ["ServiceUnavailableMiddleware", "outage_error"]


def _cache_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of a cache server that cannot be reached (redis-py's, when installed)."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # no Redis client: no Redis cache either
        return ()
    return (RedisConnectionError, RedisTimeoutError)


_CACHE_ERRORS = _cache_errors()


def outage_error(exc: BaseException) -> ConnectAuthError | None:
    """The 503 refusal for an exception that means "the database or the cache is down", else None.

    The detail names the exception's type only: its message may name hosts and
    ports, which the caller has no business knowing (the log has it).
    """
    name = type(exc).__name__
    if isinstance(exc, OperationalError | InterfaceError):
        return ConnectAuthError(
            "database_unavailable",
            f"The database could not be reached ({name}).",
            hint="The database is unreachable or dropped the connection: retry after "
            "Retry-After seconds, and check that the database server is up.",
        )
    if _CACHE_ERRORS and isinstance(exc, _CACHE_ERRORS):
        return ConnectAuthError("cache_unavailable", f"The cache could not be reached ({name}).")
    return None


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """Answers a view's database or cache outage with 503, ``Retry-After`` and a code."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = outage_error(exception)
        if error is None:
            return None
        message = (str(exception).strip().splitlines() or [""])[0][:300]
        logger.warning(
            "%s %s answered 503 %s: %s: %s",
            request.method,
            request.path,
            error.code,
            type(exception).__name__,
            message,
        )
        return refusal_response(error)
