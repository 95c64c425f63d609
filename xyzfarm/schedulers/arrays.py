"""The array planner: which array tasks grow which batches, within the site's array limit.

``MaxArraySize`` caps the array *index* (SLURM: indices 0..MaxArraySize-1), not the number of
tasks: a sparse resubmission of batches 1 and 50,000 as indices 1 and 50,000 would fail on a
site allowing 1001. So every chunk numbers its tasks from 0 (1 for SGE) and a map file sends
each task index to its batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError


@dataclass(frozen=True)
class ArrayChunk:
    """One array submission: ``tasks[k]`` are the batch ids of task index ``first + k``."""

    first: int
    tasks: tuple[tuple[int, ...], ...]

    @property
    def last(self) -> int:
        return self.first + len(self.tasks) - 1

    def task_map(self) -> dict[int, tuple[int, ...]]:
        """Array task index -> the batch ids it grows."""
        return {self.first + k: tuple(batches) for k, batches in enumerate(self.tasks)}


def plan_arrays(
    batches: Sequence[int],
    *,
    max_array_size: int,
    batches_per_task: int = 1,
    first_index: int = 0,
) -> list[ArrayChunk]:
    """Split ``batches`` into array chunks whose indices stay below ``max_array_size``.

    Parameters
    ----------
    batches : sequence of int
        Batch ids to grow (any order, possibly sparse).
    max_array_size : int
        The site's cap on array indices (SLURM ``MaxArraySize``; indices < this).
    batches_per_task : int
        Batches each task grows (e.g. one per worker of a task's local pool).
    first_index : int
        0 for SLURM and PBS, 1 for SGE.
    """
    if not isinstance(max_array_size, int) or max_array_size < first_index + 1:
        raise InvalidInputError(f"max_array_size={max_array_size!r} leaves no array index.")
    if not isinstance(batches_per_task, int) or batches_per_task < 1:
        raise InvalidInputError(f"batches_per_task={batches_per_task!r} must be at least 1.")
    groups = [
        tuple(batches[i : i + batches_per_task]) for i in range(0, len(batches), batches_per_task)
    ]
    per_chunk = max_array_size - first_index
    return [
        ArrayChunk(first_index, tuple(groups[i : i + per_chunk]))
        for i in range(0, len(groups), per_chunk)
    ]
