"""Network failures of outbound calls, wrapped as django-anymail wraps them.

Every session of this package goes through ``TimeoutSession.request``, which
turns a ``requests`` exception into :func:`network_error`: an instance of
:class:`~django_atlassian_connect.exceptions.ConnectNetworkError` *and* of the
original exception's type (anymail's ``AnymailRequestsAPIError`` in
``backends/base_requests.py`` does the same). So ``except ConnectClientError``
catches every failed call, and ``except requests.Timeout`` still works.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from ..exceptions import ConnectNetworkError

__all__ = ["network_error"]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


_NETWORK_ERROR_CLASSES: dict[type[requests.RequestException], type[ConnectNetworkError]] = {}


def _network_error_class(base: type[requests.RequestException]) -> type[ConnectNetworkError]:
    """``ConnectNetworkError`` that is also a ``base`` (made once per type)."""
    cls = _NETWORK_ERROR_CLASSES.get(base)
    if cls is None:
        cls = type(
            "ConnectNetworkError",
            (ConnectNetworkError, base),
            {"__module__": __name__, "__reduce__": _reduce_network_error},
        )
        _NETWORK_ERROR_CLASSES[base] = cls
    return cls


def _reduce_network_error(error: ConnectNetworkError) -> tuple[Any, ...]:
    # A class made at run time pickles through the requests type it was made from.
    base = next(b for b in type(error).__bases__ if b is not ConnectNetworkError)
    return (_restore_network_error, (base, error.args, error.__dict__.copy()))


def _restore_network_error(
    base: type[requests.RequestException], args: tuple[Any, ...], state: dict[str, Any]
) -> ConnectNetworkError:
    cls = _network_error_class(base)
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _reason(exc: BaseException) -> str:
    """The failure's type and, from the socket error at the bottom, its words.

    Only an ``OSError``'s text is shown: urllib3's own messages quote the URL
    with its query.
    """
    seen: set[int] = set()
    inner: BaseException | None = exc
    words = ""
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, OSError) and not isinstance(inner, requests.RequestException):
            words = str(inner)
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in inner.args if isinstance(a, BaseException)), None)
        inner = nested if nested is not None else (inner.__cause__ or inner.__context__)
    words = words[:160]
    return f"{type(exc).__name__} ({words})" if words else type(exc).__name__


def network_error(
    exc: requests.RequestException, method: str | bytes, url: str | bytes, timeout: Any = None
) -> ConnectNetworkError:
    """The :class:`ConnectNetworkError` for ``exc`` (also an instance of ``type(exc)``).

    Names the method, the URL without its query or user info, the host and
    what failed; never the body, a header or a query value.
    """
    method, parts = _text(method), urlsplit(_text(url))
    host = parts.hostname or "the host"
    if parts.port:
        host = f"{host}:{parts.port}"
    where = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path
    reason = _reason(exc)
    waited = f" within {timeout} s" if isinstance(timeout, int | float) else ""
    return _network_error_class(type(exc))(
        f"{method.upper()} {where} got no usable answer: {reason}.",
        hint=f"Check that {host} is reachable from this server (DNS, firewall, proxy "
        f"settings, TLS certificates) and answers{waited} (HTTP_TIMEOUT); then retry. "
        "Idempotent calls were retried already.",
        method=method.upper(),
        url=where,
        host=host,
        reason=reason,
    )
