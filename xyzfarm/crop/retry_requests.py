"""What a retry of failed array tasks asks for: their last recorded failures grouped by the
resource that ran out, and the request raised for it (``ClusterJob.wait(retries=...)``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..folder.failures import START_FAILURES, FailureRecord, read_failure
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..schedulers import accounting
from ..schedulers.resources import Resources, parse_walltime, walltime_seconds


def last_attempts(layout: CropLayout, batches: Sequence[int]) -> dict[int, FailureRecord]:
    """The failure records of those of ``batches`` that have any."""
    recorded = layout.batch_ids_in("failed")
    out: dict[int, FailureRecord] = {}
    sowing = Manifest.read(layout).sowing_id if recorded else None
    for batch in batches:
        if batch in recorded:
            record = read_failure(layout, batch, sowing=sowing)
            if record is not None:
                out[batch] = record
    return out


#: failure kinds (``error_type`` of the last attempt) and the resource they call for more of
TIME_FAILURES = {"Timeout", "BatchTimeout", accounting.TIMEOUT}
MEMORY_FAILURES = {"MemoryLimit", "MemoryError", "OutOfMemory", accounting.OUT_OF_MEMORY}
#: how much more of it a retry asks for (documented in docs/clusters.md)
ESCALATION_FACTOR = 2


def by_failure(layout: CropLayout, batches: list[int]) -> dict[str, list[int]]:
    """Batches grouped by what their last recorded failure asks for: time, memory, nothing
    ("start": the task could not load the function or its inputs; "cancelled": someone
    cancelled it), or other (the same again: NODE_FAIL, PREEMPTED, FAILED, ...)."""
    groups: dict[str, list[int]] = {}
    records = last_attempts(layout, batches)
    for batch in batches:
        last = records[batch].last if batch in records else None
        kind = last.error_type if last is not None else "missing"
        if (last is not None and last.start) or kind in START_FAILURES:
            group = "start"
        elif kind == accounting.CANCELLED:
            group = "cancelled"
        elif kind in TIME_FAILURES:
            group = "time"
        elif kind in MEMORY_FAILURES:
            group = "memory"
        else:
            group = "other"
        groups.setdefault(group, []).append(batch)
    return groups


def escalate(res: Resources, group: str) -> Resources:
    """The request for a retry: twice the walltime after a timeout, twice the memory after an
    out-of-memory failure, the same otherwise."""
    if group == "time" and res.walltime:
        seconds = ESCALATION_FACTOR * walltime_seconds(res.walltime)
        return replace(res, walltime=parse_walltime(seconds))
    if group == "memory" and res.mem_gb:
        return replace(res, mem_gb=ESCALATION_FACTOR * res.mem_gb)
    return res
