"""Tasks the scheduler's accounting says ended without their results, recorded as failures.

A task killed before it could write (over memory or walltime, cancelled, its node lost) leaves
no failure record of its own: :func:`record_task_ends` writes one per batch, of the task's
class (:data:`~xyzfarm.schedulers.accounting.CLASSES`), so that ``status`` shows it and
``retries`` acts on it. The classes come from the pure parsers of
:mod:`xyzfarm.schedulers.slurm` and :mod:`xyzfarm.schedulers.sge`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from ..folder.failures import write_failure
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..schedulers import accounting


def killed_for_memory(output_dir: Path, task: str) -> bool:
    """Whether the output of SLURM task ``task`` (``123_4``) says jobacct_gather killed it for
    memory: without cgroups sacct itself says only ``FAILED`` with signal 9. Read from disk."""
    job, _, index = task.partition("_")
    # the template names it %x-%A_%a.out; the job name (%x) may have been sanitised
    for path in output_dir.glob(f"*-{job}_{index}.out"):
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - 65536))
                tail = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(mark in tail for mark in accounting.SLURM_MEMORY_KILL_MARKS):
            return True
    return False


def record_task_ends(
    layout: CropLayout,
    ends: Mapping[str, accounting.TaskEnd],
    task_batches: Mapping[str, Sequence[int]],
    unexplained: Collection[int],
    *,
    output_dir: Path,
) -> list[int]:
    """Record, for each of the ``unexplained`` batches (no result, no failure of their own)
    whose task ended other than COMPLETED, a failure of the task's class in
    ``failed/<batch>.json`` (``"scheduler": true``). Returns the batches recorded.

    SLURM's ``FAILED`` with signal 9 is ``OUT_OF_MEMORY`` when the task's output says it was
    killed for memory (:func:`killed_for_memory`), else stays ``FAILED``.
    """
    recorded: list[int] = []
    if not ends:
        return recorded
    sowing = Manifest.read(layout).sowing_id  # recorded with each failure
    for key, end in ends.items():
        # only accounting's classes: a state query's neutral "failed" says too little
        if not end.final or end.state not in accounting.CLASSES:
            continue
        if end.state == accounting.COMPLETED:
            continue
        batches = [b for b in task_batches.get(key, ()) if b in unexplained]
        if not batches:
            continue
        state = end.state
        if state == accounting.FAILED and end.signal == 9 and killed_for_memory(output_dir, key):
            state = accounting.OUT_OF_MEMORY
        for batch in batches:
            write_failure(
                layout,
                batch,
                error_type=state,
                message=f"the scheduler ended task {key} ({end.detail}) before it recorded "
                "a result",
                scheduler=True,
                task=key,
                sowing=sowing,
            )
            recorded.append(batch)
    return recorded
