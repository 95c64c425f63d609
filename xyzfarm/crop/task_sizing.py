"""Array tasks sized to a target runtime: how many batches each task grows.

``submit(..., target_task_minutes=30)`` needs the seconds a case takes. They come from, in
order: ``seconds_per_case=`` if given; the provenance of batches already grown (the worker
records seconds per case for every chunk of cases); or a short timing here of the first
cases of the first batch to grow (at most :data:`TIMING_CASES` cases or
:data:`TIMING_BUDGET_S` seconds; their results are discarded). Cases per batch are fixed
when the crop is sown, so the choice is batches per task: a task of ``workers_per_task``
workers grows them that many at a time, so it runs about ``ceil(batches / workers) * cases
per batch * seconds per case``.

The site's limits bound the choice: the per-user cap on queued jobs (SLURM ``sacctmgr``
``MaxSubmitJobs``, Grid Engine ``max_u_jobs``; skipped when the site sets none or accounting
is off) makes tasks longer rather than refused; ``MaxArraySize`` is met by chunking (see
:mod:`xyzfarm.schedulers.arrays`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError
from ..folder import manifest, records
from ..folder.layout import CropLayout
from ..folder.results import ResultIndex
from ..node.worker import load_function
from ..sweep.execute import make_caller

#: batches whose provenance is read to measure case times
SAMPLE_BATCHES = 20
#: the most cases, and seconds, a timing here may take
TIMING_CASES = 3
TIMING_BUDGET_S = 10.0


@dataclass(frozen=True)
class TaskSize:
    """What :func:`size_tasks` chose, and from what."""

    batches_per_task: int
    seconds_per_case: float
    #: where the case time came from: "given", "provenance of N batches", "timed N cases"
    source: str
    #: the runtime expected of a full task, in seconds
    task_seconds: float
    #: the per-user job cap that made tasks longer than the target, if any
    max_tasks: int | None = None


def measured_seconds_per_case(layout: CropLayout) -> tuple[float, int] | None:
    """Mean seconds per case over the provenance of up to :data:`SAMPLE_BATCHES` grown
    batches, and how many batches; None if none is grown."""
    index = ResultIndex(
        layout, report=False, sowing=manifest.Manifest.read(layout).sowing_id
    ).refresh()
    cases = seconds = 0.0
    used = 0
    for batch in sorted(index.done())[:SAMPLE_BATCHES]:
        try:
            prov = index.load(batch).get("prov") or ()
        except (KeyError, OSError, ValueError):
            continue
        for segment in prov:
            cases += len(segment[0])
            seconds += len(segment[0]) * float(segment[2])
        used += 1
    index.close()
    return (seconds / cases, used) if cases else None


def timed_seconds_per_case(layout: CropLayout, batch: int) -> tuple[float, int]:
    """Time the first cases of ``batch`` here (results discarded): seconds per case, cases."""
    data = manifest.Manifest.read(layout)
    fn, fixed = load_function(layout, data)
    call = make_caller(fn, tuple(data.arg_names), fixed or {})
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=data.sowing_id)
    try:
        rows = reader.get(batch - 1)["rows"][:TIMING_CASES]
    finally:
        reader.close()
    began = time.perf_counter()
    done = 0
    for row in rows:
        call(*row)
        done += 1
        if time.perf_counter() - began > TIMING_BUDGET_S:
            break
    return (time.perf_counter() - began) / max(done, 1), done


def seconds_per_case(
    layout: CropLayout, batches: Sequence[int], given: float | None = None
) -> tuple[float, str]:
    """Seconds per case and where they come from (see the module's docstring)."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not given > 0:
            raise InvalidInputError(f"seconds_per_case={given!r} must be a positive number.")
        return float(given), "given"
    measured = measured_seconds_per_case(layout)
    if measured is not None:
        return measured[0], f"provenance of {measured[1]} batches"
    if not batches:
        raise InvalidInputError(f"the crop {layout.name!r} has no batch to time.")
    seconds, cases = timed_seconds_per_case(layout, batches[0])
    return seconds, f"timed {cases} cases here"


def size_tasks(
    layout: CropLayout,
    num_batches: int,
    *,
    target_task_minutes: float,
    seconds_per_case: float,
    source: str = "given",
    workers_per_task: int = 1,
    max_tasks: int | None = None,
) -> TaskSize:
    """Batches per task so that each task runs about ``target_task_minutes``.

    Parameters
    ----------
    num_batches : int
        Batches to submit.
    max_tasks : int, optional
        The most tasks the site lets the user queue; tasks grow longer to fit.
    """
    if (
        isinstance(target_task_minutes, bool)
        or not isinstance(target_task_minutes, (int, float))
        or not target_task_minutes > 0
    ):
        raise InvalidInputError(
            f"target_task_minutes={target_task_minutes!r} must be a positive number of minutes."
        )
    plan = manifest.Manifest.read(layout).plan
    cases_per_batch = plan.num_cases / max(plan.num_batches, 1)
    batch_s = max(cases_per_batch * seconds_per_case, 1e-9)
    target_s = 60.0 * target_task_minutes
    if batch_s > 1.5 * target_s:
        warnings.warn(
            f"a batch of crop {layout.name!r} takes about {batch_s / 60:.3g} min, more than "
            f"target_task_minutes={target_task_minutes}: each task grows one batch per "
            f"worker. Sow with batchsize <= {max(1, int(target_s / seconds_per_case))} to "
            "reach the target.",
            UserWarning,
            stacklevel=3,
        )
    rounds = max(1, round(target_s / batch_s))  # batches each worker grows in turn
    per_task = min(rounds * workers_per_task, max(num_batches, 1))
    capped = None
    if max_tasks is not None and math.ceil(num_batches / per_task) > max_tasks:
        per_task = math.ceil(num_batches / max_tasks)
        capped = max_tasks
    task_s = math.ceil(per_task / workers_per_task) * batch_s
    return TaskSize(per_task, seconds_per_case, source, task_s, capped)
