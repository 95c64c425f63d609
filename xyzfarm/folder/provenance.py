"""Provenance segments: where and how one chunk of a batch's cases was computed.

The worker records one segment per chunk of cases it ran (exact for slow cases, which run in
chunks of one; the chunk's average for fast ones), in the result record and the checkpoint;
the reap expands them into the per-case ``xyz_*`` variables.

On disk a segment is a plain tuple in the order of :class:`ProvenanceSegment`'s fields,
``(positions, start, seconds_per_case, *WorkerContext)`` (a named tuple would pickle a
reference to this module, tying every record to its import path; the worker builds the tuple
inline, once per chunk).
Segments of releases before function fingerprints have no ``fn_fingerprint``: read as "".

LEAN: the worker imports it on every compute node (standard library only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class WorkerContext(NamedTuple):
    """What every case a process grows of one batch shares: the tail of each segment."""

    host: str
    #: the scheduler's job id, "local" outside a scheduler
    job: str
    #: the array task index, "" outside an array job
    task: str
    #: 1 + the batch's failed attempts recorded before this one
    attempt: int
    #: how often the scheduler restarted (requeued) the task
    restarts: int
    #: the xyzfarm version that grew it
    version: str
    #: the grown function's fingerprint ("" for crops sown before fingerprints)
    fn_fingerprint: str


class ProvenanceSegment(NamedTuple):
    """One chunk of cases: their positions, when it began, its pace, and its context."""

    #: the cases' positions: in their batch (records and checkpoints), or in the sown case
    #: order once the reap has placed them
    positions: Any
    #: when the chunk began (seconds since the epoch)
    start: float
    #: the chunk's seconds divided by its number of cases
    seconds_per_case: float
    host: str
    job: str
    task: str
    attempt: int
    restarts: int
    version: str
    fn_fingerprint: str = ""

    @classmethod
    def from_record(cls, raw: Sequence[Any]) -> ProvenanceSegment:
        """A segment as a record holds it (a plain tuple, perhaps of an earlier release).

        Raises
        ------
        TypeError
            If ``raw`` has too few or too many fields (a malformed record).
        """
        return cls(*raw)
