"""Growing a crop as scheduler array jobs: profile, resource classes, sizing, render, submit.

:meth:`Crop.submit` (and ``Crop.grow(scheduler=...)``) and :meth:`Crop.render` come here
with their :class:`~xyzfarm.crop.submit_options.SubmitOptions`; the scheduler specifics live
in :mod:`xyzfarm.schedulers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import InvalidInputError
from ..folder import manifest
from ..folder.layout import CropLayout
from ..schedulers import get, names
from ..schedulers.profiles import load_profile
from ..schedulers.resources import resources_from
from . import reap_submission, resource_classes, task_sizing
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
        raise InvalidInputError(f"no scheduler given: pass scheduler={names()} or a profile.")
    get(scheduler)  # an unknown name is refused here, listing the registry's
    if not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers_per_task={workers!r} must be a positive integer.")
    # the job is named after the crop unless a profile or the caller names it, as xyzpy does:
    # that is what squeue/qstat show, so several crops' jobs can be told apart
    request = options.resources
    if not isinstance(request, Mapping):  # per-case requests are split into classes first
        raise InvalidInputError(f"resources={request!r} depend on the case: submit them whole.")
    res = resources_from({"job_name": crop_name}, base, request)
    return scheduler, res, workers


def _per_case(layout: CropLayout, options: SubmitOptions) -> bool:
    return resource_classes.is_per_case(options.resources, manifest.Manifest.read(layout).arg_names)


def render_scripts(
    layout: CropLayout, batches: Sequence[int], options: SubmitOptions, *, write: bool = True
) -> submitting.PreparedSubmission:
    """Validate the options and render (and with ``write`` save) the array scripts.

    Per-case ``resources`` render the first resource class (:func:`render_all` renders
    them all).
    """
    if _per_case(layout, options):
        return render_all(layout, batches, options, write=write)[0]
    name, res, workers = _with_profile(layout.name, options)
    if not batches:
        raise InvalidInputError(f"the crop {layout.name!r} has no batch left to grow.")
    batches_per_task = options.batches_per_task
    if options.target_task_minutes is not None and batches_per_task is None:
        batches_per_task = _sized(layout, batches, name, workers, options)
    return submitting.prepare(
        layout,
        name,
        list(batches),
        res,
        workers_per_task=workers,
        batches_per_task=batches_per_task,
        max_array_size=options.max_array_size,
        template_dirs=options.template_dirs,
        write=write,
    )


def _sized(
    layout: CropLayout,
    batches: Sequence[int],
    scheduler: str,
    workers: int,
    options: SubmitOptions,
) -> int:
    """Batches per task for tasks of about ``target_task_minutes`` (see task_sizing)."""
    assert options.target_task_minutes is not None
    seconds, source = task_sizing.seconds_per_case(layout, batches, options.seconds_per_case)
    size = task_sizing.size_tasks(
        layout,
        len(batches),
        target_task_minutes=options.target_task_minutes,
        seconds_per_case=seconds,
        source=source,
        workers_per_task=workers,
        max_tasks=get(scheduler).max_submit_jobs(),
    )
    return size.batches_per_task


def render_all(
    layout: CropLayout, batches: Sequence[int], options: SubmitOptions, *, write: bool = True
) -> list[submitting.PreparedSubmission]:
    """One rendered submission per resource class (one for a request that does not depend
    on the case)."""
    if options.target_task_minutes is not None and options.seconds_per_case is None:
        # measured once for every class (timing cases here is not free)
        seconds = task_sizing.seconds_per_case(layout, batches)[0]
        options = replace(options, seconds_per_case=seconds)
    if not _per_case(layout, options):
        return [render_scripts(layout, batches, options, write=write)]
    return [
        render_scripts(layout, group, replace(options, resources=request), write=write)
        for request, group in resource_classes.split(layout, batches, options.resources)
    ]


def submit(
    layout: CropLayout, batches: Sequence[int], options: SubmitOptions
) -> submitting.ClusterJob:
    """Render and submit: one array per resource class, one scheduler call per array chunk;
    with ``reap_into``, one more job that reaps into that file once they have all ended;
    with ``wait`` or ``retries``, wait for the batches (resubmitting failed ones ``retries``
    times)."""
    if not layout.function.is_file():
        raise InvalidInputError(
            f"array tasks load the crop's saved function, and {layout.function} is missing: "
            "sow with save_fn=True."
        )
    if options.retries and _per_case(layout, options):
        raise InvalidInputError(
            "per-case resources submit one array per resource class, and retries= escalates "
            "one request: grow without retries, follow the job with job.wait(), and submit "
            "the failed batches again."
        )
    into = None if options.reap_into is None else reap_submission.check_reap_into(options.reap_into)
    jobs = [submitting.submit(p) for p in render_all(layout, batches, options)]
    job = jobs[0]
    for other in jobs[1:]:  # one handle for the whole submission
        job.job_ids += other.job_ids
        job.batches += other.batches
        job.attempts_before.update(other.attempts_before)
        job.task_batches.update(other.task_batches)
    if into is not None:
        job.reap_job_id, _ = reap_submission.submit_reap_job(
            layout,
            job.scheduler,
            job.job_ids,
            into,
            job.resources,
            template_dirs=options.template_dirs,
        )
    job.resource_classes = len(jobs)
    if options.wait or options.retries:
        job.wait(retries=options.retries)
    return job
