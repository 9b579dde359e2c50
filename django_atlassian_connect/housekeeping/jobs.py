"""A per-item housekeeping job, written once: due items, chunks, claims, counts.

Each job (verify installations, renew impersonation tokens, refresh 3LO
grants) is a :class:`ChunkedJob`:

- :meth:`~ChunkedJob.due`: the items a run at ``now`` works on;
- :meth:`~ChunkedJob.batch`: one chunk of them, what one Celery chunk task does;
- :meth:`~ChunkedJob.run`: the plain loop, chunk after chunk, for a management
  command or a process without Celery.

The rules are the same for every job: an item is claimed as
``"<name>:<pk>"`` (:mod:`.claims`) before anything is read; the rows are read
after claiming, so what a concurrent run did is seen; an item another run
holds or that is no longer due is counted as ``skipped``; one item that fails
is logged and counted as the job's failure outcome, and the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from .claims import chunks, claimed

__all__ = ["ChunkedJob", "Outcome"]

logger = logging.getLogger("django_atlassian_connect")

#: What ``run_one`` answers: the outcome to count, ``(outcome, note)`` to also
#: name the item in the chunk's log line (see ``noted``), or ``None``: nothing to count.
Outcome = str | tuple[str, str] | None


@dataclass(frozen=True)
class ChunkedJob:
    """One job over many items. Every callable takes ``now`` and the run's keyword parameters.

    ``due_pks(now=, **params)``: the pks of the due items, in working order.
    ``still_due(pks, now=, **params)``: the rows of ``pks`` still due, read after claiming.
    ``run_one(row, now=, **params)``: the work on one row; an :data:`Outcome`.
    ``outcomes``: always counted; ``occasional``: counted only when some are.
    ``failed``: the outcome of an item whose ``run_one`` raised.
    ``claims``: ``False`` when each item's own row lock already keeps runs apart
    (no claim taken, no ``skipped`` counted).
    ``noted``: per outcome, a log line (``%d`` items: ``%s`` notes) written once per chunk.
    ``tidy(now=)``: run after every run, plain or fanned out.
    """

    name: str
    due_pks: Callable[..., list[Any]]
    still_due: Callable[..., Iterable[Any]]
    run_one: Callable[..., Outcome]
    outcomes: tuple[str, ...]
    failed: str = "failed"
    occasional: tuple[str, ...] = ()
    claims: bool = True
    describe: Callable[[Any], str] = str
    noted: Mapping[str, str] = field(default_factory=dict)
    tidy: Callable[..., object] | None = None

    def claim_key(self, pk: Any) -> str:
        """The one key format of every job's claims."""
        return f"{self.name}:{pk}"

    def due(self, *, now: datetime, limit: int | None = None, **params: Any) -> list[Any]:
        """The pks a run at ``now`` works on (the first ``limit`` of them)."""
        pks = self.due_pks(now=now, **params)
        return pks[:limit] if limit else pks

    def tidy_up(self, now: datetime) -> None:
        if self.tidy is not None:
            self.tidy(now=now)

    def _zero(self) -> dict[str, int]:
        keys = (*self.outcomes, "skipped") if self.claims else self.outcomes
        return dict.fromkeys((*keys, *self.occasional), 0)

    def _drop_occasional(self, counts: dict[str, int]) -> dict[str, int]:
        for key in self.occasional:
            if not counts.get(key):
                counts.pop(key, None)
        return counts

    def _work(self, row: Any, now: datetime, params: dict[str, Any]) -> tuple[str | None, str]:
        """(outcome, note) for one row; its failure is its own, never the batch's."""
        try:
            outcome = self.run_one(row, now=now, **params)
        except Exception:
            logger.exception("%s: %s failed; the batch goes on", self.name, self.describe(row))
            return self.failed, ""
        return outcome if isinstance(outcome, tuple) else (outcome, "")

    def batch(
        self, pks: Iterable[Any], *, now: datetime | None = None, **params: Any
    ) -> dict[str, int]:
        """Work on the items ``pks`` that are still due, each under its claim; counts."""
        now = now or timezone.now()
        pks = list(pks)
        counts = self._zero()
        notes: dict[str, list[str]] = {}
        worked = 0
        keys = [self.claim_key(pk) for pk in pks]
        with claimed(keys if self.claims else ()) as held:
            mine = [pk for pk, key in zip(pks, keys, strict=True) if key in held]
            for row in self.still_due(mine if self.claims else pks, now=now, **params):
                outcome, note = self._work(row, now, params)
                worked += 1
                if outcome is not None:
                    counts[outcome] = counts.get(outcome, 0) + 1
                    if note and outcome in self.noted:
                        notes.setdefault(outcome, []).append(note)
                held.release(self.claim_key(row.pk))
        if self.claims:
            counts["skipped"] = len(pks) - worked
        for outcome, items in notes.items():
            # One line per chunk, not one per item: a cause such as a quota affects many.
            logger.info(self.noted[outcome], len(items), ", ".join(items))
        return self._drop_occasional(counts)

    def run(
        self, *, now: datetime | None = None, limit: int | None = None, **params: Any
    ) -> dict[str, int]:
        """The plain loop: every due item, chunk after chunk; ``skipped`` only when some were."""
        now = now or timezone.now()
        counts = self._zero()
        for chunk in chunks(self.due(now=now, limit=limit, **params)):
            for key, value in self.batch(chunk, now=now, **params).items():
                counts[key] = counts.get(key, 0) + value
        self.tidy_up(now)
        if not counts.get("skipped"):
            counts.pop("skipped", None)
        return self._drop_occasional(counts)
