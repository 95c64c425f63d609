"""A crop's state from its folder alone: lean (no xarray), so ``xyzfarm status`` answers fast.

Done and damaged batches come from the result logs, read the one way ``grow`` and ``reap``
read them (:class:`~xyzfarm.node.results.ResultIndex`: every counted record's checksum verified),
running ones from the kernel's record locks (one ``F_GETLK`` sweep), failed ones from
``failed/``; no scheduler is asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..store import storage
from . import manifest
from .layout import CropLayout
from .results import ResultIndex


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

    def __str__(self) -> str:
        text = (
            f"{self.done}/{self.total} done, {self.failed} failed, "
            f"{self.running} running, {self.missing} missing"
        )
        return text + (f", {self.damaged} damaged" if self.damaged else "")


def crop_status(layout: CropLayout) -> CropStatus:
    """The state of the crop at ``layout`` (all zero if it is not sown)."""
    if not layout.exists():
        layout.check_not_orphaned()
        return CropStatus(0, 0, 0, 0, 0)
    total = manifest.read(layout)["plan"]["num_batches"]
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
    )


def last_error(layout: CropLayout, batch: int) -> str:
    """One line: the last recorded error of a failed batch."""
    try:
        data = json.loads(layout.failed(batch).read_text())
        last = data["attempts"][-1]
    except (OSError, ValueError, KeyError, IndexError):
        return "no error recorded"
    case = f" at case {last['case']}" if last.get("case") else ""
    return f"{last.get('error_type')}: {last.get('message')}{case} (attempt {last.get('attempt')})"
