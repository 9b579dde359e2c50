"""Celery tasks: thin wrappers over :mod:`maintenance` and :mod:`oauth`.

Celery is optional (``pip install django-atlassian-connect[celery]``). Without
it this module still imports: each task is the plain function with ``delay()``
and ``apply_async()`` that run it at once, so code that schedules tasks keeps
working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import maintenance

try:
    from celery import shared_task
except ImportError:  # pragma: no cover - exercised by the "base" tox env

    def shared_task(*args: Any, **kwargs: Any) -> Any:
        def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
            func.delay = func  # type: ignore[attr-defined]
            func.apply_async = lambda args=(), kwargs=None, **_: func(*args, **(kwargs or {}))  # type: ignore[attr-defined]
            return func

        if args and callable(args[0]):
            return wrap(args[0])
        return wrap


@shared_task(name="django_atlassian_connect.refresh_access_tokens", ignore_result=False)
def refresh_access_tokens() -> dict[str, int]:
    """Renew impersonation tokens used recently that expire soon."""
    return maintenance.refresh_access_tokens()


@shared_task(name="django_atlassian_connect.purge_retired_secrets", ignore_result=False)
def purge_retired_secrets() -> int:
    """Drop the material of secrets retired longer than SECRET_RETENTION ago."""
    return maintenance.purge_retired_secrets()


@shared_task(name="django_atlassian_connect.purge_seen_tokens", ignore_result=False)
def purge_seen_tokens() -> int:
    """Forget expired signed lifecycle tokens kept to refuse replays."""
    return maintenance.purge_seen_tokens()


@shared_task(name="django_atlassian_connect.verify_installations", ignore_result=False)
def verify_installations() -> dict[str, Any]:
    """One signed call per installation; a 401 marks its secret as suspect."""
    return maintenance.verify_installations()
