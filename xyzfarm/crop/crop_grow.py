"""Growing a crop's batches: here, in pinned worker processes, or as scheduler array jobs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import FunctionMismatchError, InvalidInputError
from ..node import manifest, shipping
from ..node.state import CropStatus
from ..store import storage
from . import grow as growing
from .crop_base import CropBase


class CropGrowing(CropBase):
    """The growing half of :class:`~xyzfarm.crop.crop.Crop`."""

    # -- growing -----------------------------------------------------------------------------

    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        subprocess: bool | str = "auto",
        num_workers: int | None = None,
        num_threads: int | None = None,
        gpus: Any = None,
        affinities: Any = None,
        raise_errors: bool = False,
        log: bool = False,
        verbosity: int = 1,
        executor: Any = None,
        desc: str = "Grow",
        *,
        batch_timeout_s: float | None = None,
        max_mem_gb: float | None = None,
        retries: int = 0,
        scheduler: str | None = None,
        resources: Mapping[str, Any] | None = None,
        workers_per_task: int | None = None,
        profile: str | None = None,
        wait: bool = False,
        template_dirs: Sequence[str] | None = None,
        max_array_size: int | None = None,
        batches_per_task: int | None = None,
        replace_fn: bool = False,
        **resource_kwargs: Any,
    ) -> Any:
        """Grow batches locally, or as array jobs of a scheduler (default: every missing batch).

        Parameters
        ----------
        batch_ids : int or sequence of int, optional
            Which batches (1-based); default all missing ones, failed ones included.
        subprocess : {'auto', True, False}
            Grow in persistent pinned worker processes; 'auto' does so when ``num_threads``,
            ``gpus`` or ``affinities`` is given.
        num_workers : int, optional
            Concurrent batches: pool workers, or the size of a process pool in-process.
        num_threads : int, optional
            Cores (and thread-variable value) per pool worker; each worker gets its own
            disjoint cores from those this process may use.
        gpus : int, str or sequence, optional
            GPU ids handed one per worker as ``CUDA_VISIBLE_DEVICES`` (repeat to share).
        affinities : int, str or sequence, optional
            Cores to pin workers to: a flat list is split into groups of ``num_threads``
            (default 1); a list of lists gives each worker's set.
        raise_errors : bool
            Stop at the first failed batch with :class:`~xyzfarm.errors.BatchFailedError`;
            otherwise failures are recorded in ``failed/`` and growing goes on.
        log : bool
            Pool workers write each batch's output to ``logs/batch-<i>.log``.
        verbosity : {0, 1, 2}
            0 silent, 1 a progress bar over batches, 2 also the latest batch.
        executor : concurrent.futures-style executor, optional
            Grow in-process through it (process pools, submitit executors, ...).
        batch_timeout_s : float, optional
            Kill a pool worker whose batch runs longer; the batch is recorded as failed
            (``BatchTimeout``). Implies worker processes.
        max_mem_gb : float, optional
            Kill a pool worker whose memory (children included) exceeds this; the batch is
            recorded as failed (``MemoryLimit``). Implies worker processes.
        retries : int
            Grow failed batches again up to this many times (each resumes from its
            checkpoint; every attempt's error stays in ``failed/<i>.json``). On a cluster this
            waits, and escalates walltime or memory after a timeout or memory failure.
        scheduler : {'slurm', 'pbs', 'sge'}, optional
            Submit array jobs instead of growing here (from a login node); returns at once
            with a :class:`~xyzfarm.crop.submit.ClusterJob` unless ``wait``.
        resources : mapping, optional
            The request (see :class:`~xyzfarm.schedulers.resources.Resources`); its keys may
            also be given as keyword arguments, which win.
        workers_per_task : int, optional
            Pinned workers inside each array task (each grows its own batch).
        profile : str, optional
            Options from a named profile (see :mod:`xyzfarm.schedulers.profiles`).
        wait : bool
            With a scheduler: wait until the submitted batches are done.
        template_dirs : sequence of path, optional
            Folders searched first for the script templates.
        max_array_size : int, optional
            The site's array index cap (default: asked from the scheduler).
        batches_per_task : int, optional
            Batches per array task (default ``workers_per_task``).
        replace_fn : bool
            Grow with this crop's function although it differs from the one the crop was
            sown with: ``function.pkl`` and the recorded fingerprint are replaced (refused
            while a batch is running). Results already grown keep the old function's
            fingerprint in their provenance (``xyz_fn``).

        Raises
        ------
        FunctionMismatchError
            If the function differs from the crop's (code, closure or defaults) and not
            ``replace_fn``.

        Returns
        -------
        CropStatus or ClusterJob
            The crop's state afterwards, or the submission's handle.
        """
        if not self.is_prepared():
            self.layout.check_not_orphaned()
            raise InvalidInputError(f"the crop {self.name!r} is not sown yet; sow it first.")
        data = self._manifest()
        if self._fn is not None:
            data = self._check_function(data, replace_fn)
        total = data["plan"]["num_batches"]
        if batch_ids is None:
            batches = growing.missing_batches(self.layout, total)
        else:
            batches = [batch_ids] if isinstance(batch_ids, int) else list(batch_ids)
            bad = [b for b in batches if not (isinstance(b, int) and 1 <= b <= total)]
            if bad:
                raise InvalidInputError(f"batch ids {bad} are not in 1..{total}.")
        if scheduler is not None or profile is not None:
            from . import cluster
            from .cluster_keywords import from_xyzpy

            resource_kwargs = from_xyzpy(resource_kwargs)
            workers_per_task = resource_kwargs.pop("workers_per_task", workers_per_task)

            return cluster.grow(
                self.layout,
                batches,
                scheduler=scheduler,
                resources=resources,
                workers_per_task=workers_per_task or num_workers,
                profile=profile,
                wait=wait,
                retries=retries,
                template_dirs=template_dirs,
                max_array_size=max_array_size,
                batches_per_task=batches_per_task,
                gpus=gpus,
                num_threads=num_threads,
                affinities=affinities,
                **resource_kwargs,
            )
        if resource_kwargs:
            raise InvalidInputError(
                f"unknown grow option(s) {sorted(resource_kwargs)} (resource options need "
                "scheduler=...)."
            )
        fixed = None
        if self._fn is not None:
            # constants as sown (the runner's, plus any given to sow), and unsaved resources
            runner = self.runner
            fixed = {
                **((runner.resources or {}) if runner is not None else {}),
                **{k: manifest.decode(v) for k, v in data["constants"].items()},
            }
        options = dict(
            fn=self._fn,
            fixed=fixed,
            subprocess=subprocess,
            num_workers=num_workers,
            num_threads=num_threads,
            gpus=gpus,
            affinities=affinities,
            log=log,
            verbosity=verbosity,
            executor=executor,
            desc=desc,
            batch_timeout_s=batch_timeout_s,
            max_mem_gb=max_mem_gb,
        )
        # with retries, failures are only raised once the retries are spent too
        statuses = growing.grow(
            self.layout, batches, raise_errors=raise_errors and not retries, **options
        )
        for attempt in range(retries):
            failed = [b for b, status in statuses.items() if status == growing.FAILED]
            if not failed:
                break
            last = attempt == retries - 1
            statuses.update(
                growing.grow(self.layout, failed, raise_errors=raise_errors and last, **options)
            )
        return self.status()

    def _check_function(self, data: dict[str, Any], replace: bool) -> dict[str, Any]:
        """Refuse to grow with a function other than the crop's, or replace it when asked."""
        recorded = data.get("fn_fingerprint")
        now = shipping.fingerprint(self._fn)
        if recorded is None and not replace:
            return data  # sown before fingerprints (or without a function): nothing to compare
        if recorded == now:
            return data
        old_name = data.get("fn_qualname") or data.get("fn_name")
        new_name = shipping.qualname(self._fn)
        if not replace:
            raise FunctionMismatchError(
                f"the crop {self.name!r} was sown with the function {old_name} (fingerprint "
                f"{str(recorded)[:8]}), not {new_name} (fingerprint {now[:8]}): its results "
                "would mix the two. Grow with crop.grow(..., replace_fn=True) to replace the "
                "saved function (done batches keep their results), or delete the crop and sow "
                "it again with the new one."
            )
        total = data["plan"]["num_batches"]
        running = storage.record_locks(self.layout.running_locks).locked_in(1, total + 1)
        if running:
            raise FunctionMismatchError(
                f"cannot replace the function of crop {self.name!r} while batches "
                f"{sorted(running)[:10]} are running with the old one; wait for them (or "
                "cancel them), then grow again with replace_fn=True."
            )
        if self.save_fn:
            fixed = {
                **{k: manifest.decode(v) for k, v in data["constants"].items()},
                **((self.runner.resources or {}) if self.runner is not None else {}),
            }
            payload = shipping.dumps_function(self._fn, fixed)
            storage.write_bytes(self.layout.function, payload)
            data = {**data, "fn_sha256": hashlib.sha256(payload).hexdigest()}
        data = {**data, "fn_qualname": new_name, "fn_fingerprint": now}
        data.pop(manifest.CHECKSUM_KEY, None)
        manifest.write(self.layout, data)
        return self._manifest()

    def render(
        self, scheduler: str | None = None, batch_ids: Sequence[int] | None = None, **options: Any
    ) -> str:
        """The array-job script :meth:`grow` would submit (its first chunk), without submitting.

        Takes the same options as :meth:`grow` with ``scheduler``. The scripts and the map
        files they refer to are written to a new ``jobs/<id>/`` folder, so a script can be
        submitted by hand: its header comment holds the command (``cd <logs> && sbatch ...``).
        """
        return str(self._render_plan(scheduler, batch_ids, **options).texts[0])

    def _render_plan(
        self, scheduler: str | None, batch_ids: Sequence[int] | None, **options: Any
    ) -> Any:
        from . import cluster
        from .cluster_keywords import from_xyzpy

        options = from_xyzpy(options)
        total = self._manifest()["plan"]["num_batches"]
        batches = (
            list(batch_ids)
            if batch_ids is not None
            else growing.missing_batches(self.layout, total)
        )
        return cluster.plan(self.layout, batches, scheduler=scheduler, **options)

    gen_cluster_script = render  # xyzpy's name

    def grow_cluster(self, scheduler: str = "slurm", **options: Any) -> Any:
        """xyzpy's name for :meth:`grow` with a scheduler."""
        return self.grow(scheduler=scheduler, **options)

    def grow_missing(self, **grow_opts: Any) -> CropStatus:
        """Grow every batch without a result (see :meth:`grow`).

        xyzpy's ``parallel=True`` (a combo_runner option) grows in a process pool.
        """
        parallel = grow_opts.pop("parallel", False)
        if parallel and grow_opts.get("num_workers") is None and grow_opts.get("executor") is None:
            # an int is the pool size, as in xyzpy's runners
            is_size = isinstance(parallel, int) and not isinstance(parallel, bool)
            grow_opts["num_workers"] = parallel if is_size else (os.cpu_count() or 1)
        return self.grow(batch_ids=None, **grow_opts)

    def grow_subprocess(
        self, batch_ids: int | Sequence[int] | None = None, **grow_opts: Any
    ) -> Any:
        """xyzpy's name for :meth:`grow` in worker processes (``subprocess=True``)."""
        return self.grow(batch_ids, subprocess=True, **grow_opts)
