"""Slots of a worker pool: which cores, GPUs and thread count each worker gets.

:func:`plan_slots` hands out disjoint cores from this process's own affinity mask (so only
what a SLURM allocation or a cgroup granted) and GPU ids as ``CUDA_VISIBLE_DEVICES`` reads
them; a :class:`Slot` turns into the environment a worker starts with (thread-count variables
set before Python starts, so numerical libraries read them on import), and
:func:`child_pythonpath` into its ``PYTHONPATH``. Standard library only, so the command line
and job submission use it without importing the pool (and psutil).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

#: environment variables that cap the threads of common numerical libraries
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@dataclass
class Slot:
    """What one worker may use: cores, GPUs and a thread count."""

    cpus: list[int] | None = None
    gpus: list[str] | None = None
    threads: int | None = None

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        threads = self.threads or (len(self.cpus) if self.cpus else None)
        if threads:
            for var in THREAD_VARS:
                env[var] = str(threads)
        if self.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus)
        return env


def _is_gpu_id(gpu: str) -> bool:
    # what CUDA_VISIBLE_DEVICES understands: an index, or a GPU / MIG instance UUID
    return gpu.isdigit() or gpu.startswith(("GPU-", "MIG-"))


def parse_gpu_ids(value: Any, what: str = "gpus") -> list[str]:
    """GPU ids from one id, a ``'0,1'`` string or a sequence; refuse anything else.

    Ids are non-negative integers or GPU/MIG UUIDs (``GPU-...``, ``MIG-...``), the forms
    ``CUDA_VISIBLE_DEVICES`` accepts. An int is one id, as in xyzpy (``gpus=1`` is GPU 1,
    never "one GPU": a script written for xyzpy must not silently move to another GPU);
    ``range(n)`` gives the first ``n``.

    Raises
    ------
    InvalidInputError
        Naming the value, for no ids or an id of another form.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be an id, a list of ids or 'a,b,c', got {value!r}.")
    if isinstance(value, int):
        value = [value]
    if isinstance(value, str):
        ids = [v.strip() for v in value.split(",") if v.strip()]
    else:
        ids = [str(v).strip() for v in value]
    if not ids:
        raise InvalidInputError(f"{what}={value!r} names no ids.")
    bad = [gpu for gpu in ids if not _is_gpu_id(gpu)]
    if bad:
        raise InvalidInputError(
            f"{what}={value!r}: {bad[0]!r} is not a GPU id; give non-negative integers "
            "(e.g. '0,1') or GPU UUIDs (GPU-...)."
        )
    return ids


def _core_groups(affinities: Any, num_threads: int | None, available: list[int]) -> list[list[int]]:
    cores: list[Any]
    if isinstance(affinities, int) and not isinstance(affinities, bool):
        cores = [affinities]  # one core id, as in xyzpy (and as gpus=<int> is one GPU id)
    elif isinstance(affinities, str):
        cores = [int(c) for c in affinities.split(",") if c.strip()]
    else:
        cores = list(affinities)
    groups: list[list[int]] = []
    if cores and all(isinstance(c, int) for c in cores):
        size = num_threads or 1
        groups = [cores[i : i + size] for i in range(0, len(cores) - size + 1, size)]
    else:
        groups = [
            [int(c) for c in (g if isinstance(g, (list, tuple, set)) else [g])] for g in cores
        ]
    for group in groups:
        for core in group:
            if core not in available:
                raise InvalidInputError(
                    f"core {core} in affinities is not one this process may run on "
                    f"({available}); pick cores from that set."
                )
    if not groups:
        raise InvalidInputError(f"affinities={affinities!r} gives no core set.")
    return groups


def plan_slots(
    num_workers: int | None = None,
    num_threads: int | None = None,
    gpus: Any = None,
    affinities: Any = None,
) -> list[Slot]:
    """One Slot per worker: disjoint cores from this process's own affinity mask.

    The cores come from ``os.sched_getaffinity(0)``, so inside a SLURM allocation or a cgroup
    only the cores granted are handed out. Asking for more workers than the cores (or GPUs)
    can hold runs as many as fit, and says so with a :class:`UserWarning` naming both numbers.

    Raises
    ------
    InvalidInputError
        For counts that are not positive integers, GPU ids that are not ids, or cores this
        process may not use.
    """
    available = sorted(os.sched_getaffinity(0))
    for what, value in (("num_threads", num_threads), ("num_workers", num_workers)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidInputError(f"{what} must be a positive integer, got {value!r}.")
    groups: list[list[int]] | None = None
    if affinities is not None:
        groups = _core_groups(affinities, num_threads, available)
    elif num_threads is not None:
        if num_threads > len(available):
            raise InvalidInputError(
                f"num_threads={num_threads} is more than the {len(available)} cores this "
                f"process may use ({available})."
            )
        groups = [
            available[i : i + num_threads]
            for i in range(0, len(available) - num_threads + 1, num_threads)
        ]
    gpu_ids = None if gpus is None else parse_gpu_ids(gpus)
    caps = [
        n
        for n in (
            num_workers,
            None if groups is None else len(groups),
            None if gpu_ids is None else len(gpu_ids),
        )
        if n is not None
    ]
    count = min(caps) if caps else 1
    if num_workers is not None and count < num_workers:
        _warn_fewer_workers(num_workers, count, num_threads, groups, gpu_ids, available)
    return [
        Slot(
            cpus=None if groups is None else groups[i],
            gpus=None if gpu_ids is None else [gpu_ids[i]],
            threads=num_threads,
        )
        for i in range(count)
    ]


def _warn_fewer_workers(
    asked: int,
    count: int,
    num_threads: int | None,
    groups: list[list[int]] | None,
    gpu_ids: list[str] | None,
    available: list[int],
) -> None:
    if groups is not None and count == len(groups):
        each = num_threads or 1
        why = (
            f"this process may use {len(available)} core(s) {available}, room for {count} "
            f"worker(s) of {each} core(s) each"
        )
    else:
        why = f"only {len(gpu_ids or [])} GPU id(s) were given"
    # stacklevel 1 on purpose: one warning per distinct request, wherever it came from
    warnings.warn(
        f"num_workers={asked} asks for more workers than fit: {why}; running {count}.",
        UserWarning,
        stacklevel=1,
    )


def child_pythonpath() -> str:
    """``PYTHONPATH`` for child interpreters (pool workers, array tasks): the session's own
    entries only, so they import the user's modules and this xyzfarm as this process does.

    That is the working directory first, then every ``sys.path`` entry outside the
    interpreter's installation (an editable checkout, a folder the user added), and this
    xyzfarm's folder when it is not installed. Never the standard library or site-packages:
    another interpreter (``python=`` resource, a ``module load``) brings its own, and a
    leaked one of another version breaks it ("SRE module mismatch").
    """
    # deferred: shipping imports cloudpickle, which planning slots (the CLI's --gpus) never needs
    from .shipping import is_installed

    here = str(Path(__file__).resolve().parents[2])  # the folder holding xyzfarm/
    entries = [os.getcwd(), *[p if p else os.getcwd() for p in sys.path]]
    if not is_installed(here):
        entries.insert(1, here)
    own = [p for p in entries if not is_installed(p) and os.path.isdir(p)]
    return os.pathsep.join(dict.fromkeys(own))
