"""The outbound layer: every call this package makes to Atlassian goes through here.

- :mod:`.sessions`: the one place ``requests`` sessions are configured
  (timeouts, User-Agent, retries honouring ``Retry-After``, per-tenant rate
  limits through :mod:`.ratelimit`);
- :mod:`.bound`: ``BoundSession``, a credential sent under one base URL only,
  which every credential's session builds on;
- :mod:`.targets`: where a credential may be sent and the URL rules;
- :mod:`.errors` and :mod:`.network`: what the product's error answers say,
  network failures wrapped as :class:`~django_atlassian_connect.exceptions.ConnectNetworkError`;
- :mod:`.token_endpoint` and :mod:`.token_cache`: one OAuth 2.0 token request,
  fetched tokens kept across processes.

The names below are re-exported from those modules (and
:class:`ConnectAPIError` from :mod:`django_atlassian_connect.exceptions`).
"""

from __future__ import annotations

from ..exceptions import ConnectAPIError, product_message
from . import ratelimit
from .errors import product_says
from .network import network_error
from .sessions import (
    RETRY_STATUSES,
    USER_AGENT,
    CappedRetry,
    RateLimitedSession,
    RetryObserver,
    TimeoutSession,
    build_retry,
    configure_session,
    new_session,
)
from .targets import origin, refuse_unsafe_path, unsafe_path

__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "CappedRetry",
    "ConnectAPIError",
    "RateLimitedSession",
    "RetryObserver",
    "TimeoutSession",
    "build_retry",
    "configure_session",
    "network_error",
    "new_session",
    "origin",
    "product_message",
    "product_says",
    "ratelimit",
    "refuse_unsafe_path",
    "unsafe_path",
]
