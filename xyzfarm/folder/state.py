"""A crop's state from its folder alone: lean (no xarray), so ``xyzfarm status`` answers fast.

Done and damaged batches come from the result logs, read the one way ``grow`` and ``reap``
read them (:class:`~xyzfarm.folder.results.ResultIndex`: every counted record's checksum verified),
running ones from the kernel's record locks (one ``F_GETLK`` sweep), failed ones from
``failed/``; no scheduler is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import record_locks
from .display import status_html
from .failures import FailureRecord, read_failure
from .layout import CropLayout
from .manifest import Manifest
from .results import ResultIndex

__all__ = ["CropStatus", "crop_status"]


@dataclass(frozen=True)
class CropStatus:
    """Counts of a crop's batches by state (from its files alone: no scheduler is asked)."""

    total: int
    done: int
    failed: int
    running: int
    missing: int
    failed_ids: tuple[int, ...] = ()
    #: batches whose only results are damaged: reap would reject them, grow grows them again
    damaged: int = 0
    damaged_ids: tuple[int, ...] = ()
    #: ``(batch, class)`` of each failed batch: the ``error_type`` of its last attempt, e.g.
    #: ``TIMEOUT`` or ``OUT_OF_MEMORY`` from the scheduler's accounting for a task killed
    #: before it could write, ``ValueError`` for the function's own exception
    failure_classes: tuple[tuple[int, str], ...] = ()
    #: ``(batch, line)``: the last recorded error of each failed batch, in one line
    last_errors: tuple[tuple[int, str], ...] = ()

    def last_error(self, batch: int) -> str:
        """One line: the last recorded error of failed batch ``batch``."""
        return dict(self.last_errors).get(batch, "no error recorded")

    def failures_by_class(self) -> dict[str, int]:
        """How many failed batches have each failure class."""
        counts: dict[str, int] = {}
        for _, kind in self.failure_classes:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def __str__(self) -> str:
        text = (
            f"{self.done}/{self.total} done, {self.failed} failed, "
            f"{self.running} running, {self.missing} missing"
        )
        return text + (f", {self.damaged} damaged" if self.damaged else "")

    def _repr_html_(self) -> str:
        return status_html(self)


def crop_status(layout: CropLayout) -> CropStatus:
    """The state of the crop at ``layout`` (all zero if it is not sown)."""
    if not layout.exists():
        layout.check_not_orphaned()
        return CropStatus(0, 0, 0, 0, 0)
    sown = Manifest.read(layout)
    total, sowing = sown.plan.num_batches, sown.sowing_id
    # silent: a status poll must not warn at every call; the damaged count says it
    index = ResultIndex(layout, report=False, sowing=sowing).refresh()
    done = {b for b in index.done() if 1 <= b <= total}
    running = record_locks.record_locks(layout.running_locks).locked_in(1, total + 1) - done
    # failures recorded by this sowing: one of a grower of the crop before it was deleted
    # and sown again is not this crop's
    read = {
        b: read_failure(layout, b, sowing=sowing)
        for b in layout.batch_ids_in("failed")
        if 1 <= b <= total and b not in done and b not in running
    }
    failed = {b for b, record in read.items() if record is not None}
    damaged = {b for b in index.damaged() if 1 <= b <= total} - done - running - failed
    missing = total - len(done) - len(failed) - len(running) - len(damaged)
    return CropStatus(
        total,
        len(done),
        len(failed),
        len(running),
        missing,
        tuple(sorted(failed)),
        len(damaged),
        tuple(sorted(damaged)),
        tuple((b, _class(read[b])) for b in sorted(failed)),
        tuple((b, r.last.summary()) for b, r in sorted(read.items()) if r is not None),
    )


def _class(record: FailureRecord | None) -> str:
    """The class of a failed batch's last attempt (``error_type``), ``"unknown"`` if none."""
    return "unknown" if record is None else record.last.error_type
