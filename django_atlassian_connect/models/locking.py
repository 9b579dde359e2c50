"""Lock a row, or create it: what the install, the Forge invocation and the
impersonation-token cache each need before they change a row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction

__all__ = ["lock_or_create"]

M = TypeVar("M", bound=models.Model)


def lock_or_create(
    manager: models.Manager[M],
    lookup: Mapping[str, Any],
    create_with: Mapping[str, Any] | None = None,
) -> tuple[M | None, bool]:
    """``(row, created)``: the row ``lookup`` names, locked in the caller's transaction.

    Missing, it is created from ``lookup`` and ``create_with`` (``None``: not
    created, ``(None, False)``). Two first callers racing for one row: the
    loser's INSERT fails on the unique constraint (in a savepoint, so the
    caller's transaction goes on) and it locks the winner's row instead.

    On SQLite, which has no row locks, ``select_for_update`` does nothing: the
    callers keep their writers apart themselves (one transaction at a time per
    process, or a no-op write first).
    """
    row = manager.select_for_update().filter(**lookup).first()
    if row is not None or create_with is None:
        return row, False
    try:
        with transaction.atomic():
            return manager.create(**lookup, **create_with), True
    except IntegrityError:
        return manager.select_for_update().get(**lookup), False
