"""How to submit a crop's batches as scheduler array jobs: :class:`SubmitOptions`, checked once.

One record shared by :meth:`Crop.submit <xyzfarm.Crop.submit>` (and its xyzpy spellings
``grow(scheduler=...)``, ``grow_cluster``, ``gen_cluster_script``) and ``xyzfarm submit`` /
``xyzfarm render``: each builds it by keyword (construction by position is refused).
Growing on this machine takes :class:`~xyzfarm.grow_options.GrowOptions`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidOptionError
from .cluster_keywords import from_xyzpy
from .grow_options import check_count


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """How to submit batches as array jobs, from a login node.

    Parameters
    ----------
    scheduler : {'slurm', 'pbs', 'sge'}, optional
        The scheduler (default: the profile's).
    profile : str, optional
        Options from a named profile (see :mod:`xyzfarm.schedulers.profiles`); those given
        here win.
    resources : mapping or callable
        The request (see :class:`~xyzfarm.schedulers.resources.Resources`), checked when the
        scripts are rendered; or per case: a function of the swept arguments it names giving
        the request, or a mapping with a swept argument as a key (see
        :mod:`xyzfarm.crop.resource_classes`): one array per distinct request.
    workers_per_task : int, optional
        Pinned workers inside each array task (each grows its own batch).
    batches_per_task : int, optional
        Batches per array task (default ``workers_per_task``).
    max_array_size : int, optional
        The site's array index cap (default: asked from the scheduler).
    template_dirs : sequence of path, optional
        Folders searched first for the script templates.
    wait : bool
        Wait until the submitted batches are done.
    retries : int
        Resubmit batches left without a result up to this many times (implies ``wait``),
        with twice the walltime after a timeout and twice the memory after a memory failure.
    replace_fn : bool
        Submit with the crop's function although it differs from the one the crop was sown
        with (see :meth:`Crop.grow <xyzfarm.Crop.grow>`).
    reap_into : path, optional
        Also submit a job that waits for every array task to end, then reaps the crop into
        this file (keeping the crop if anything is missing): no process need stay on the
        login node. Not with ``retries``.
    target_task_minutes : float, optional
        Size array tasks to run about this long (``batches_per_task`` from measured case
        times: earlier runs' provenance, or a short timing of a few cases here).
    seconds_per_case : float, optional
        The case time ``target_task_minutes`` sizes with (default: measured).

    Raises
    ------
    InvalidOptionError
        For a value an option cannot take, naming the option and the value.
    """

    scheduler: str | None = None
    profile: str | None = None
    resources: Mapping[str, Any] | Callable[..., Any] = field(default_factory=dict)
    workers_per_task: int | None = None
    batches_per_task: int | None = None
    max_array_size: int | None = None
    template_dirs: tuple[str | os.PathLike[str], ...] | None = None
    wait: bool = False
    retries: int = 0
    replace_fn: bool = False
    reap_into: str | os.PathLike[str] | None = None
    target_task_minutes: float | None = None
    seconds_per_case: float | None = None

    def __post_init__(self) -> None:
        for name in ("scheduler", "profile"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidOptionError(f"{name}={value!r} must be a name (a string).")
        if not isinstance(self.resources, Mapping) and not callable(self.resources):
            raise InvalidOptionError(
                f"resources={self.resources!r} must be a mapping, e.g. {{'walltime': '1:00:00'}}."
            )
        check_count("workers_per_task", self.workers_per_task)
        check_count("batches_per_task", self.batches_per_task)
        check_count("max_array_size", self.max_array_size)
        check_count("retries", self.retries, least=0, optional=False)
        for name in ("target_task_minutes", "seconds_per_case"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            ):
                raise InvalidOptionError(f"{name}={value!r} must be a positive number.")
        if self.retries and self.reap_into is not None:
            raise InvalidOptionError(
                "retries= waits here and resubmits, while reap_into= leaves the reaping to a job "
                "after the first submission: give one (reap later with crop.reap(into=...))."
            )

    @classmethod
    def from_keywords(
        cls,
        *,
        scheduler: str | None = None,
        profile: str | None = None,
        resources: Mapping[str, Any] | None = None,
        workers_per_task: int | None = None,
        batches_per_task: int | None = None,
        max_array_size: int | None = None,
        template_dirs: Sequence[str | os.PathLike[str]] | None = None,
        wait: bool = False,
        retries: int = 0,
        replace_fn: bool = False,
        reap_into: str | os.PathLike[str] | None = None,
        target_task_minutes: float | None = None,
        seconds_per_case: float | None = None,
        num_workers: int | None = None,
        num_threads: int | None = None,
        gpus: Any = None,
        affinities: Any = None,
        **resource_keywords: Any,
    ) -> SubmitOptions:
        """The options of ``Crop.grow(scheduler=...)``'s keywords, xyzpy's spellings included.

        Resource keywords (``walltime=``, ``mem_gb=``, and xyzpy's ``hours=``,
        ``gigabytes=``, ``num_procs=`` ... see :func:`~xyzfarm.cluster_keywords.from_xyzpy`)
        join ``resources`` and win over it. The local pinning options mean the same per
        array task: ``num_workers`` is the default ``workers_per_task``, ``num_threads``
        each worker's ``threads_per_worker`` and ``gpus`` the task's GPUs.

        Raises
        ------
        InvalidOptionError
            For ``affinities`` (they name this machine's cores) or a bad value.
        """
        if affinities is not None:
            raise InvalidOptionError(
                f"affinities={affinities!r} name this machine's cores; on a cluster each task "
                "pins its workers inside its own allocation (use workers_per_task)."
            )
        request = from_xyzpy(resource_keywords)
        workers = request.pop("workers_per_task", None) or workers_per_task or num_workers
        # the local pinning options mean the same per array task (the request's own win)
        if gpus is not None:
            request.setdefault("gpus", gpus)
        if num_threads is not None:
            request.setdefault("threads_per_worker", num_threads)
        if resources is not None and callable(resources):
            merged: Any = _with_request(resources, request) if request else resources
        elif resources is not None and not isinstance(resources, Mapping):
            raise InvalidOptionError(
                f"resources={resources!r} must be a mapping, e.g. {{'walltime': '1:00:00'}}."
            )
        else:
            merged = {**(resources or {}), **request}
        return cls(
            scheduler=scheduler,
            profile=profile,
            resources=merged,
            workers_per_task=workers,
            batches_per_task=batches_per_task,
            max_array_size=max_array_size,
            template_dirs=None if template_dirs is None else tuple(template_dirs),
            wait=wait,
            retries=retries,
            replace_fn=replace_fn,
            reap_into=reap_into,
            target_task_minutes=target_task_minutes,
            seconds_per_case=seconds_per_case,
        )


def _with_request(per_case: Callable[..., Any], request: Mapping[str, Any]) -> Callable[..., Any]:
    """``per_case``'s request with the keyword ``request`` winning, as for a mapping; it keeps
    ``per_case``'s signature (``functools.wraps``): the swept arguments it names are passed."""

    @functools.wraps(per_case)
    def merged(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**per_case(*args, **kwargs), **request}

    return merged
