"""Growing a crop as scheduler array jobs: options, profile, plan, render, submit.

:meth:`Crop.grow` with ``scheduler=`` and :meth:`Crop.render` come here; the scheduler
specifics live in :mod:`xyzfarm.schedulers`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..node.layout import CropLayout
from ..schedulers.profiles import load_profile
from ..schedulers.resources import resources_from
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
        raise InvalidInputError(
            "no scheduler given: pass scheduler='slurm'|'pbs'|'sge' or a profile."
        )
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
    **resource_kwargs: Any,
) -> submitting.Plan:
    """Validate the options and plan (render, and with ``write`` save) the array scripts."""
    name, res, workers = _options(
        layout.name, scheduler, profile, resources, workers_per_task, resource_kwargs
    )
    if not batches:
        raise InvalidInputError(f"the crop {layout.name!r} has no batch left to grow.")
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


def submit(layout: CropLayout, batches: Sequence[int], **options: Any) -> submitting.ClusterJob:
    """Plan and submit; one scheduler call per array chunk."""
    return submitting.submit(plan(layout, batches, **options))


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
    job = submit(layout, batches, **options)
    if wait or retries:
        job.wait(retries=retries)
    return job
