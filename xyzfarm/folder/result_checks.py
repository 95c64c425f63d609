"""Whether a result record holds what its batch's plan says: its case positions, one output
per case, provenance only for the batch's own cases.

Checked where a record is read (:meth:`xyzfarm.folder.results.ResultIndex.load`) and where a
checkpoint's chunks are placed (:mod:`xyzfarm.crop.reap`); a record that fails is refused,
never published: a bug or a forgery counts as a missing batch.

LEAN: standard library only; the worker imports it on every compute node.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from ..errors import DataFileError


def _same_indices(got: Any, sown: Sequence[int]) -> bool:
    if isinstance(got, (range, list, tuple)) and type(got) is type(sown):
        return bool(got == sown)  # compared in C: no list of a million ints to build
    try:
        return len(got) == len(sown) and [int(i) for i in got] == [int(i) for i in sown]
    except (TypeError, ValueError):
        return False


def _describe(indices: Any) -> str:
    try:
        n = len(indices)
        shown = [int(i) for i in list(indices)[:4]]
    except (TypeError, ValueError):
        return repr(indices)[:60]
    return f"{n} cases {shown}{' ...' if n > 4 else ''}"


def verify_result(
    result: Any, batch: int, sown_indices: Sequence[int], num_batches: int, where: str
) -> None:
    """Check that ``result`` is what batch ``batch`` of the crop's plan must hold.

    Parameters
    ----------
    result : Any
        An unpickled result record: ``{"indices", "outputs", "prov"}``.
    batch : int
        The batch id the record claims (1-based).
    sown_indices : sequence of int
        The case positions the batch was sown with (``indices`` of its ``cases.bin`` record).
    num_batches : int
        The number of batches of the crop.
    where : str
        The record's place, for the message (``<log> at byte <offset>``).

    Raises
    ------
    DataFileError
        If the batch id is not in ``1..num_batches``, or the record's case positions are not
        the batch's sown ones, or it does not hold one output per case (or provenance for
        positions outside the batch).
    """
    if not (isinstance(batch, int) and 1 <= batch <= num_batches):
        raise DataFileError(
            f"{where}: the record claims batch {batch!r}, but the crop has batches 1.."
            f"{num_batches}."
        )
    if not (isinstance(result, dict) and "indices" in result and "outputs" in result):
        raise DataFileError(f"{where}: the record of batch {batch} is not a batch result.")
    indices, outputs = result["indices"], result["outputs"]
    if not _same_indices(indices, sown_indices):
        raise DataFileError(
            f"{where}: the record of batch {batch} holds {_describe(indices)}, but batch "
            f"{batch} was sown with {_describe(sown_indices)}."
        )
    try:
        count = len(outputs)
    except TypeError:
        count = -1
    if count != len(sown_indices):
        raise DataFileError(
            f"{where}: the record of batch {batch} holds {count} outputs for its "
            f"{len(sown_indices)} cases."
        )
    try:
        why = segments_problem([segment[0] for segment in result.get("prov") or ()], count)
    except (TypeError, IndexError, KeyError) as exc:
        raise DataFileError(f"{where}: the provenance of batch {batch} is malformed.") from exc
    if why is not None:
        raise DataFileError(f"{where}: the provenance of batch {batch} {why}.")


def segments_problem(segments: Sequence[Any], size: int) -> str | None:
    """Why the case positions of provenance ``segments`` are not distinct positions inside a
    batch of ``size`` cases (see :func:`positions_problem`); None when they are.

    Segments that are ranges (as growers write them) are checked from their ends: a few
    operations per segment, not per case.
    """
    if all(type(s) is range and s.step == 1 for s in segments):
        spans = sorted((s.start, s.stop) for s in segments if len(s))
        if not spans:
            return None
        if spans[0][0] < 0 or max(stop for _, stop in spans) > size:
            return f"names case positions outside its {size} cases"
        if any(stop > start for (_, stop), (start, _) in itertools.pairwise(spans)):
            return "names a case position twice"
        return None
    return positions_problem([p for s in segments for p in s], size)


def positions_problem(positions: Sequence[Any], size: int) -> str | None:
    """Why ``positions`` are not distinct case positions inside a batch of ``size`` cases.

    None when they are. min/max/set run in C: ~1 us per batch, not per case.
    """
    if not positions:
        return None
    try:
        if min(positions) < 0 or max(positions) >= size:
            return f"names case positions outside its {size} cases"
    except TypeError:
        return "names case positions that are not integers"
    if len(set(positions)) != len(positions):
        return "names a case position twice"
    return None
