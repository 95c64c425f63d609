"""How to submit a crop's batches as scheduler array jobs: :class:`SubmitOptions`, checked once.

One record shared by :meth:`Crop.submit <xyzfarm.Crop.submit>` (and its xyzpy spellings
``grow(scheduler=...)``, ``grow_cluster``, ``gen_cluster_script``) and ``xyzfarm submit`` /
``xyzfarm render``: each builds it by keyword (construction by position is refused).
Growing on this machine takes :class:`~xyzfarm.grow_options.GrowOptions`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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
    resources : mapping
        The request (see :class:`~xyzfarm.schedulers.resources.Resources`), checked when the
        scripts are planned.
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

    Raises
    ------
    InvalidOptionError
        For a value an option cannot take, naming the option and the value.
    """

    scheduler: str | None = None
    profile: str | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    workers_per_task: int | None = None
    batches_per_task: int | None = None
    max_array_size: int | None = None
    template_dirs: tuple[str | os.PathLike[str], ...] | None = None
    wait: bool = False
    retries: int = 0
    replace_fn: bool = False

    def __post_init__(self) -> None:
        for name in ("scheduler", "profile"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidOptionError(f"{name}={value!r} must be a name (a string).")
        if not isinstance(self.resources, Mapping):
            raise InvalidOptionError(
                f"resources={self.resources!r} must be a mapping, e.g. {{'walltime': '1:00:00'}}."
            )
        check_count("workers_per_task", self.workers_per_task)
        check_count("batches_per_task", self.batches_per_task)
        check_count("max_array_size", self.max_array_size)
        check_count("retries", self.retries, least=0, optional=False)

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
        if resources is not None and not isinstance(resources, Mapping):
            raise InvalidOptionError(
                f"resources={resources!r} must be a mapping, e.g. {{'walltime': '1:00:00'}}."
            )
        return cls(
            scheduler=scheduler,
            profile=profile,
            resources={**(resources or {}), **request},
            workers_per_task=workers,
            batches_per_task=batches_per_task,
            max_array_size=max_array_size,
            template_dirs=None if template_dirs is None else tuple(template_dirs),
            wait=wait,
            retries=retries,
            replace_fn=replace_fn,
        )
