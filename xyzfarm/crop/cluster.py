"""Growing a crop as scheduler array jobs: profile, plan, render, submit.

:meth:`Crop.submit` (and ``Crop.grow(scheduler=...)``) and :meth:`Crop.render` come here
with their :class:`~xyzfarm.submit_options.SubmitOptions`; the scheduler specifics live in
:mod:`xyzfarm.schedulers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInputError
from ..node.layout import CropLayout
from ..schedulers.profiles import load_profile
from ..schedulers.resources import resources_from
from . import submit as submitting
from .submit_options import SubmitOptions


def _with_profile(crop_name: str, options: SubmitOptions) -> tuple[str, Any, int]:
    """The scheduler, the validated request and the workers per task: the profile's, with
    the options' own winning."""
    base = load_profile(options.profile) if options.profile else {}
    scheduler = options.scheduler or base.pop("scheduler", None)
    base.pop("scheduler", None)
    workers = options.workers_per_task or base.pop("workers_per_task", 1)
    base.pop("workers_per_task", None)
    if scheduler is None:
        raise InvalidInputError(
            "no scheduler given: pass scheduler='slurm'|'pbs'|'sge' or a profile."
        )
    if not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers_per_task={workers!r} must be a positive integer.")
    # the job is named after the crop unless a profile or the caller names it, as xyzpy does:
    # that is what squeue/qstat show, so several crops' jobs can be told apart
    res = resources_from({"job_name": crop_name}, base, options.resources)
    return scheduler, res, workers


def render_scripts(
    layout: CropLayout, batches: Sequence[int], options: SubmitOptions, *, write: bool = True
) -> submitting.PreparedSubmission:
    """Validate the options and render (and with ``write`` save) the array scripts."""
    name, res, workers = _with_profile(layout.name, options)
    if not batches:
        raise InvalidInputError(f"the crop {layout.name!r} has no batch left to grow.")
    return submitting.prepare(
        layout,
        name,
        list(batches),
        res,
        workers_per_task=workers,
        batches_per_task=options.batches_per_task,
        max_array_size=options.max_array_size,
        template_dirs=options.template_dirs,
        write=write,
    )


def submit(
    layout: CropLayout, batches: Sequence[int], options: SubmitOptions
) -> submitting.ClusterJob:
    """Render and submit (one scheduler call per array chunk); with ``wait`` or ``retries``,
    wait for the batches (resubmitting failed ones ``retries`` times)."""
    if not layout.function.is_file():
        raise InvalidInputError(
            f"array tasks load the crop's saved function, and {layout.function} is missing: "
            "sow with save_fn=True."
        )
    job = submitting.submit(render_scripts(layout, batches, options))
    if options.wait or options.retries:
        job.wait(retries=options.retries)
    return job
