"""Connection pools shared by every session of a process.

Each :func:`~django_atlassian_connect.http.sessions.configure_session` mounts
a :class:`PooledAdapter`: its own retry policy (and rate-limit observer), but
the connections of one process-wide urllib3 ``PoolManager``. So
``ConnectClient(tenant).as_app().get(...)`` in a loop, a Celery task per call,
or many threads reuse the keep-alive connections to a site or to the API
gateway instead of opening (and TLS-handshaking) one per session.

A pool is kept per scheme, host, port and TLS settings (urllib3's pool key),
``HTTP_POOL_MAXSIZE`` connections each (more may open under load; only that
many are kept), at most ``HTTP_POOL_HOSTS`` hosts (least recently used
dropped). A forked child (gunicorn, Celery prefork) starts with no pools of
its parent: sockets are never shared across processes.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

from ..conf import connect_settings

__all__ = ["PooledAdapter", "clear_pools", "shared_pool_manager"]

_lock = threading.Lock()
_managers: dict[tuple[int, int], PoolManager] = {}
_owner_pid = os.getpid()


def shared_pool_manager() -> PoolManager:
    """This process's pool manager for the current pool settings (made on first use)."""
    global _owner_pid
    key = (int(connect_settings.HTTP_POOL_HOSTS), int(connect_settings.HTTP_POOL_MAXSIZE))
    with _lock:
        if _owner_pid != os.getpid():  # forked: the parent's sockets are not ours
            _managers.clear()
            _owner_pid = os.getpid()
        manager = _managers.get(key)
        if manager is None:
            manager = _managers[key] = PoolManager(num_pools=key[0], maxsize=key[1], block=False)
        return manager


def clear_pools() -> None:
    """Close every pooled connection of this process (tests; after a host changed address)."""
    with _lock:
        for manager in _managers.values():
            manager.clear()
        _managers.clear()


class PooledAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections come from :func:`shared_pool_manager`.

    Retries (``max_retries``) stay the adapter's own: urllib3 takes them per
    request, so each session keeps its policy and its rate-limit observer.
    Closing a session closes only what is its own (proxy managers), never the
    shared pools.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = shared_pool_manager()

    def close(self) -> None:
        for proxy in self.proxy_manager.values():
            proxy.clear()
