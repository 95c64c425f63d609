"""Growing a crop as scheduler array jobs: options, profile, plan, render, submit.

:meth:`Crop.grow` with ``scheduler=`` and :meth:`Crop.render` come here; the scheduler
specifics live in :mod:`xyzfarm.schedulers`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..node import manifest
from ..node.layout import CropLayout
from ..schedulers import get, names
from ..schedulers.profiles import load_profile
from ..schedulers.resources import resources_from
from . import reap_job, resource_classes, task_sizing
from . import submit as submitting


def _options(
    crop_name: str,
    scheduler: str | None,
    profile: str | None,
    resources: Mapping[str, Any] | None,
    workers_per_task: int | None,
    resource_kwargs: Mapping[str, Any],
) -> tuple[str, Any, int]:
    base = load_profile(profile) if profile else {}
    scheduler = scheduler or base.pop("scheduler", None)
    base.pop("scheduler", None)
    workers = workers_per_task or base.pop("workers_per_task", 1)
    base.pop("workers_per_task", None)
    if scheduler is None:
        raise InvalidInputError(f"no scheduler given: pass scheduler={names()} or a profile.")
    get(scheduler)  # an unknown name is refused here, listing the registry's
    if not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers_per_task={workers!r} must be a positive integer.")
    # the job is named after the crop unless a profile or the caller names it, as xyzpy does:
    # that is what squeue/qstat show, so several crops' jobs can be told apart
    res = resources_from({"job_name": crop_name}, base, resources, **resource_kwargs)
    return scheduler, res, workers


def plan(
    layout: CropLayout,
    batches: Sequence[int],
    *,
    scheduler: str | None,
    resources: Mapping[str, Any] | None = None,
    workers_per_task: int | None = None,
    profile: str | None = None,
    template_dirs: Sequence[str | os.PathLike[str]] | None = None,
    max_array_size: int | None = None,
    batches_per_task: int | None = None,
    write: bool = True,
    target_task_minutes: float | None = None,
    seconds_per_case: float | None = None,
    **resource_kwargs: Any,
) -> submitting.Plan:
    """Validate the options and plan (render, and with ``write`` save) the array scripts.

    Per-case ``resources`` plan the first resource class (:func:`plans` plans them all).
    """
    if resource_classes.is_per_case(resources, manifest.read(layout)["arg_names"]):
        return plans(
            layout,
            batches,
            scheduler=scheduler,
            resources=resources,
            workers_per_task=workers_per_task,
            profile=profile,
            template_dirs=template_dirs,
            max_array_size=max_array_size,
            batches_per_task=batches_per_task,
            write=write,
            target_task_minutes=target_task_minutes,
            seconds_per_case=seconds_per_case,
            **resource_kwargs,
        )[0]
    name, res, workers = _options(
        layout.name, scheduler, profile, resources, workers_per_task, resource_kwargs
    )
    if not batches:
        raise InvalidInputError(f"the crop {layout.name!r} has no batch left to grow.")
    if target_task_minutes is not None and batches_per_task is None:
        batches_per_task = _sized(
            layout, batches, name, workers, target_task_minutes, seconds_per_case
        )
    return submitting.plan(
        layout,
        name,
        list(batches),
        res,
        workers_per_task=workers,
        batches_per_task=batches_per_task,
        max_array_size=max_array_size,
        template_dirs=template_dirs,
        write=write,
    )


def _sized(
    layout: CropLayout,
    batches: Sequence[int],
    scheduler: str,
    workers: int,
    target_task_minutes: float,
    seconds_per_case: float | None,
) -> int:
    """Batches per task for tasks of about ``target_task_minutes`` (see task_sizing)."""
    seconds, source = task_sizing.seconds_per_case(layout, batches, seconds_per_case)
    cap = get(scheduler).max_submit_jobs()
    size = task_sizing.size_tasks(
        layout,
        len(batches),
        target_task_minutes=target_task_minutes,
        seconds_per_case=seconds,
        source=source,
        workers_per_task=workers,
        max_tasks=cap,
    )
    return size.batches_per_task


def plans(
    layout: CropLayout,
    batches: Sequence[int],
    *,
    resources: Any = None,
    target_task_minutes: float | None = None,
    seconds_per_case: float | None = None,
    **options: Any,
) -> list[submitting.Plan]:
    """One plan per resource class (one for a request that does not depend on the case)."""
    if target_task_minutes is not None and seconds_per_case is None:
        # measured once for every class (timing cases here is not free)
        seconds_per_case = task_sizing.seconds_per_case(layout, batches)[0]
    return [
        plan(
            layout,
            group,
            resources=request,
            target_task_minutes=target_task_minutes,
            seconds_per_case=seconds_per_case,
            **options,
        )
        for request, group in resource_classes.split(layout, batches, resources)
    ]


def submit(
    layout: CropLayout,
    batches: Sequence[int],
    *,
    reap_into: str | os.PathLike[str] | None = None,
    **options: Any,
) -> submitting.ClusterJob:
    """Plan and submit: one array per resource class, one scheduler call per array chunk;
    with ``reap_into``, one more job that reaps into that file once they have all ended."""
    into = None if reap_into is None else reap_job.check_reap_into(reap_into)
    jobs = [submitting.submit(p) for p in plans(layout, batches, **options)]
    job = jobs[0]
    for other in jobs[1:]:  # one handle for the whole submission
        job.job_ids += other.job_ids
        job.batches += other.batches
        job.attempts_before.update(other.attempts_before)
        job.task_batches.update(other.task_batches)
    if into is not None:
        job.reap_job_id, _ = reap_job.submit_reap_job(
            layout,
            job.scheduler,
            job.job_ids,
            into,
            job.resources,
            template_dirs=options.get("template_dirs"),
        )
    job.resource_classes = len(jobs)
    return job


def grow(
    layout: CropLayout,
    batches: Sequence[int],
    *,
    wait: bool = False,
    retries: int = 0,
    gpus: Any = None,
    num_threads: int | None = None,
    affinities: Any = None,
    **options: Any,
) -> submitting.ClusterJob:
    """:meth:`Crop.grow` with a scheduler: submit, and optionally wait for the batches."""
    if not layout.function.is_file():
        raise InvalidInputError(
            f"array tasks load the crop's saved function, and {layout.function} is missing: "
            "sow with save_fn=True."
        )
    if affinities is not None:
        raise InvalidInputError(
            "affinities name this machine's cores; on a cluster each task pins its workers "
            "inside its own allocation (use workers_per_task)."
        )
    # the local pinning options mean the same per array task
    if gpus is not None:
        options.setdefault("gpus", gpus)
    if num_threads is not None:
        options.setdefault("threads_per_worker", num_threads)
    if retries and options.get("reap_into") is not None:
        raise InvalidInputError(
            "retries= waits here and resubmits, while reap_into= leaves the reaping to a job "
            "after the first submission: give one (reap later with crop.reap(into=...))."
        )
    if retries and resource_classes.is_per_case(
        options.get("resources"), manifest.read(layout)["arg_names"]
    ):
        raise InvalidInputError(
            "per-case resources submit one array per resource class, and retries= escalates "
            "one request: grow without retries, follow the job with job.wait(), and submit "
            "the failed batches again."
        )
    job = submit(layout, batches, **options)
    if wait or retries:
        job.wait(retries=retries)
    return job
