"""A crop's state from its folder alone: lean (no xarray), so ``xyzfarm status`` answers fast.

Done and damaged batches come from the result logs, read the one way ``grow`` and ``reap``
read them (:class:`~xyzfarm.node.results.ResultIndex`: every counted record's checksum verified),
running ones from the kernel's record locks (one ``F_GETLK`` sweep), failed ones from
``failed/``; no scheduler is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import storage
from .display import status_html
from .failures import last_error, read_failure
from .layout import CropLayout
from .manifest import Manifest
from .results import ResultIndex

__all__ = ["CropStatus", "crop_status", "last_error"]


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
    total = Manifest.read(layout).plan.num_batches
    # silent: a status poll must not warn at every call; the damaged count says it
    index = ResultIndex(layout, report=False).refresh()
    done = {b for b in index.done() if 1 <= b <= total}
    running = storage.record_locks(layout.running_locks).locked_in(1, total + 1) - done
    failed = {b for b in layout.batch_ids_in("failed") if 1 <= b <= total}
    failed -= done | running
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
        tuple((b, failure_class(layout, b)) for b in sorted(failed)),
    )


def failure_class(layout: CropLayout, batch: int) -> str:
    """The class of a failed batch's last attempt (``error_type``), ``"unknown"`` if none."""
    record = read_failure(layout, batch)
    return "unknown" if record is None else record.last.error_type
