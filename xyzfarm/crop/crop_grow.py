"""Growing a crop's batches: here (:meth:`grow`), or as scheduler array jobs (:meth:`submit`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast, overload

from ..errors import (
    FunctionLoadError,
    FunctionMismatchError,
    InvalidInputError,
    InvalidOptionError,
)
from ..folder import throttle
from ..folder.manifest import Manifest
from ..folder.state import CropStatus
from ..node import shipping
from ..node.worker import load_function
from ..store import record_locks, storage
from . import grow as growing
from .crop_base import CropBase
from .grow_options import GrowOptions
from .submit_options import SubmitOptions

if TYPE_CHECKING:
    from .submit import ClusterJob, PreparedSubmission


#: submit options that were named parameters of grow (and ignored without a scheduler)
_SUBMIT_ONLY = (
    "resources",
    "workers_per_task",
    "template_dirs",
    "max_array_size",
    "batches_per_task",
)


def _with_scheduler(method: str, scheduler: str) -> Callable[..., Any]:
    """xyzpy's per-scheduler name of ``method`` (``grow_cluster``, ``gen_cluster_script``):
    the method with ``scheduler`` as its default, which a ``scheduler=`` given anyway
    overrides, as in xyzpy (there a ``functools.partialmethod``)."""

    def with_scheduler(
        self: Any,
        scheduler: str = scheduler,
        batch_ids: Sequence[int] | None = None,
        **options: Any,
    ) -> Any:
        return getattr(self, method)(scheduler, batch_ids, **options)

    name = method.replace("cluster", scheduler)
    with_scheduler.__name__ = with_scheduler.__qualname__ = name
    with_scheduler.__doc__ = f"xyzpy's ``{method}(scheduler={scheduler!r})``."
    return with_scheduler


class CropGrowing(CropBase):
    """The growing half of :class:`~xyzfarm.crop.crop.Crop`."""

    # -- growing -----------------------------------------------------------------------------

    # the type of the result follows from the keywords (positional options beyond batch_ids
    # are xyzpy's, kept working, but not typed)
    @overload
    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        *,
        scheduler: None = None,
        profile: None = None,
        options: GrowOptions | None = None,
        **keywords: Any,
    ) -> CropStatus: ...

    @overload
    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        *,
        scheduler: str,
        profile: str | None = None,
        **keywords: Any,
    ) -> ClusterJob: ...

    @overload
    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        *,
        scheduler: str | None = None,
        profile: str,
        **keywords: Any,
    ) -> ClusterJob: ...

    @overload
    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        *,
        options: SubmitOptions,
        **keywords: Any,
    ) -> ClusterJob: ...

    def grow(
        self,
        batch_ids: int | Sequence[int] | None = None,
        subprocess: bool | str = "auto",
        num_workers: int | None = None,
        num_threads: int | None = None,
        gpus: Any = None,
        affinities: Any = None,
        raise_errors: bool = False,
        debugging: bool = False,
        verbosity: int = 1,
        verbosity_grow: int = 0,
        log: bool = False,
        desc: str = "Grow",
        executor: Any = None,
        *,
        batch_timeout_s: float | None = None,
        max_mem_gb: float | None = None,
        retries: int = 0,
        replace_fn: bool = False,
        scheduler: str | None = None,
        profile: str | None = None,
        options: GrowOptions | SubmitOptions | None = None,
        **submit_keywords: Any,
    ) -> CropStatus | ClusterJob:
        """Grow batches on this machine (default: every missing batch, failed ones included).

        With ``scheduler`` or ``profile`` (xyzpy's spelling), or ``options`` a
        :class:`~xyzfarm.submit_options.SubmitOptions`, this is :meth:`submit` instead: the
        cluster keywords (``resources``, ``workers_per_task``, ``wait``, ``walltime``, ...)
        go there, and the options that only act here (``subprocess``, ``log``,
        ``verbosity``, ``executor``, ``batch_timeout_s``, ...) are ignored.

        Parameters
        ----------
        batch_ids : int or sequence of int, optional
            Which batches (1-based); default all missing ones, failed ones included.
        subprocess, num_workers, num_threads, gpus, affinities, raise_errors, verbosity, log,
        desc, executor, batch_timeout_s, max_mem_gb, retries, replace_fn
            How to grow: see :class:`~xyzfarm.grow_options.GrowOptions` (positionally in
            xyzpy's order).
        debugging, verbosity_grow
            Accepted for xyzpy compatibility (its per-batch logging and printing): a batch's
            failure is in ``crop.status()`` and the crop's ``failed/`` records instead.
        scheduler : {'slurm', 'pbs', 'sge'}, optional
            Submit array jobs instead of growing here: see :meth:`submit`.
        profile : str, optional
            Submit with the options of a named profile: see :meth:`submit`.
        options : GrowOptions or SubmitOptions, optional
            Every option at once, instead of the keywords (which are then refused).
        **submit_keywords
            With a scheduler: the keywords of :meth:`submit`. Also here: ``max_running``,
            the most batches (local pool) or array tasks (cluster, SLURM ``%N``, SGE ``-tc``)
            running at once; kept in the crop's folder and changeable while it runs
            (:meth:`set_max_running`, ``xyzfarm throttle NAME K``).

        Raises
        ------
        FunctionMismatchError
            If the function differs from the crop's (code, closure or defaults) and not
            ``replace_fn``: ``function.pkl`` and the recorded fingerprint are replaced then
            (refused while a batch is running); results already grown keep the old
            function's fingerprint in their provenance (``xyz_fn``).
        InvalidOptionError
            For an option that cannot take its value, or a cluster keyword without a
            scheduler.

        Returns
        -------
        CropStatus or ClusterJob
            The crop's state afterwards; with a scheduler, the submission's handle.
        """
        del debugging, verbosity_grow
        if isinstance(options, SubmitOptions):
            return self.submit(batch_ids, options=options, **submit_keywords)
        if scheduler is not None or profile is not None:
            # xyzpy's spelling of submit: the pinning options mean the same per array task
            return self.submit(
                batch_ids,
                scheduler=scheduler,
                profile=profile,
                num_workers=num_workers,
                num_threads=num_threads,
                gpus=gpus,
                affinities=affinities,
                retries=retries,
                replace_fn=replace_fn,
                **submit_keywords,
            )
        max_running = submit_keywords.pop("max_running", None)
        if max_running is not None and self.is_prepared():
            # the crop's one throttle, read live by a local pool
            throttle.write_max_running(self.layout, throttle.check_max_running(max_running))
        # named parameters of grow before submit existed: accepted here at their defaults, as
        # then; given a value, refused by name (growing here would drop it unseen); `wait` is
        # what growing here does anyway
        submit_keywords.pop("wait", None)
        given = {n: submit_keywords.pop(n) for n in _SUBMIT_ONLY if n in submit_keywords}
        if any(v is not None for v in given.values()):
            named = ", ".join(f"{n}={v!r}" for n, v in given.items() if v is not None)
            raise InvalidOptionError(
                f"{named} act(s) on array jobs: give scheduler= (or profile=) to submit, or "
                "leave it out to grow here."
            )
        if options is None:
            options = GrowOptions.from_keywords(
                subprocess=subprocess,
                num_workers=num_workers,
                num_threads=num_threads,
                gpus=gpus,
                affinities=affinities,
                raise_errors=raise_errors,
                log=log,
                verbosity=verbosity,
                executor=executor,
                desc=desc,
                batch_timeout_s=batch_timeout_s,
                max_mem_gb=max_mem_gb,
                retries=retries,
                replace_fn=replace_fn,
                **submit_keywords,  # none: each is refused by name
            )
        elif submit_keywords:
            raise InvalidOptionError(
                f"give options= or the keywords {sorted(submit_keywords)}, not both."
            )
        return self._grow_here(batch_ids, options)

    def _grow_here(self, batch_ids: int | Sequence[int] | None, options: GrowOptions) -> CropStatus:
        sown, batches = self._to_grow(batch_ids, options.replace_fn)
        fixed = None
        if self._fn is not None:
            # constants as sown (the runner's, plus any given to sow), and unsaved resources
            runner = self.runner
            fixed = {
                **((runner.resources or {}) if runner is not None else {}),
                **sown.decoded_constants(),
            }

        def grow_once(which: Sequence[int], raise_errors: bool) -> dict[int, str]:
            return growing.grow(
                self.layout,
                which,
                fn=self._fn,
                fixed=fixed,
                options=options,
                raise_errors=raise_errors,
            )

        # with retries, failures are only raised once the retries are spent too
        statuses = grow_once(batches, options.raise_errors and not options.retries)
        for attempt in range(options.retries):
            failed = [b for b, status in statuses.items() if status == growing.FAILED]
            if not failed:
                break
            last = attempt == options.retries - 1
            statuses.update(grow_once(failed, options.raise_errors and last))
        return self.status()

    def set_max_running(self, max_running: int | None) -> dict[str, bool]:
        """Change how many batches (local pool) or array tasks (cluster) run at once, now.

        A local pool growing this crop reads the new value within a second; every array
        submitted for the crop that its scheduler still holds is updated (SLURM ``scontrol
        update ArrayTaskThrottle``, Grid Engine ``qalter -tc``, PBS Pro ``qalter -W
        max_run_subjobs``). ``None`` removes the crop's throttle for later local growing.

        Returns
        -------
        dict
            ``{job_id: changed}`` per array job of the crop (False: it has ended).
        """
        if max_running is None:
            throttle.write_max_running(self.layout, None)
            return {}
        return throttle.set_max_running(self.layout, max_running)

    def submit(
        self,
        batch_ids: int | Sequence[int] | None = None,
        *,
        options: SubmitOptions | None = None,
        **keywords: Any,
    ) -> ClusterJob:
        """Submit batches as array jobs of a scheduler, from a login node (default: every
        missing batch, failed ones included).

        Returns at once with the submission's handle, unless ``wait`` or ``retries``.

        Parameters
        ----------
        batch_ids : int or sequence of int, optional
            Which batches (1-based); default all missing ones.
        options : SubmitOptions, optional
            Every option at once, instead of the keywords.
        **keywords
            The fields of :class:`~xyzfarm.submit_options.SubmitOptions` (``scheduler``,
            ``profile``, ``resources``, ``workers_per_task``, ``batches_per_task``,
            ``max_array_size``, ``template_dirs``, ``wait``, ``retries``, ``replace_fn``),
            resource keywords (``walltime=``, ``mem_gb=``, xyzpy's ``hours=``,
            ``gigabytes=``, ...) and ``num_workers`` / ``num_threads`` / ``gpus``: see
            :meth:`SubmitOptions.from_keywords
            <xyzfarm.submit_options.SubmitOptions.from_keywords>`.

        Raises
        ------
        FunctionMismatchError
            As for :meth:`grow`.
        InvalidOptionError, ResourceError
            For an option or resource that cannot take its value.

        Returns
        -------
        ClusterJob
            The submission: its job ids, progress, ``wait()``, ``cancel()``.
        """
        # deferred: cluster renders with jinja2, which growing here never needs
        from . import cluster

        options = self._submit_options(options, keywords)
        batches = self._to_grow(batch_ids, options.replace_fn)[1]
        if keywords.get("max_running") is not None:
            # the crop's one throttle (%N / -tc of its arrays, and read by a local pool)
            limit = throttle.check_max_running(keywords["max_running"])
            throttle.write_max_running(self.layout, limit)
        return cluster.submit(self.layout, batches, options)

    @staticmethod
    def _submit_options(options: SubmitOptions | None, keywords: dict[str, Any]) -> SubmitOptions:
        if options is None:
            return SubmitOptions.from_keywords(**keywords)
        if keywords:
            raise InvalidOptionError(
                f"give options= or the keywords {sorted(keywords)}, not both (build the "
                "options with them: dataclasses.replace(options, ...))."
            )
        return options

    def _to_grow(
        self, batch_ids: int | Sequence[int] | None, replace_fn: bool
    ) -> tuple[Manifest, list[int]]:
        """The crop's manifest (the function checked against it) and the batches to grow."""
        if not self.is_prepared():
            self.layout.check_not_orphaned()
            raise InvalidInputError(f"the crop {self.name!r} is not sown yet; sow it first.")
        sown = self._manifest()
        if self._fn is not None:
            sown = self._check_function(sown, replace_fn)
        total = sown.plan.num_batches
        if batch_ids is None:
            return sown, growing.missing_batches(self.layout, total)
        batches = [batch_ids] if isinstance(batch_ids, int) else list(batch_ids)
        bad = [b for b in batches if not (isinstance(b, int) and 1 <= b <= total)]
        if bad:
            raise InvalidInputError(f"batch ids {bad} are not in 1..{total}.")
        return sown, batches

    def _check_function(self, sown: Manifest, replace_fn: bool) -> Manifest:
        """Refuse to grow with a function other than the crop's, or replace it when asked."""
        recorded = sown.fn_fingerprint
        now = shipping.fingerprint(self._fn)
        if recorded is None and not replace_fn:
            return sown  # sown before fingerprints (or without a function): nothing to compare
        old_name = sown.fn_qualname or sown.fn_name
        new_name = shipping.qualname(self._fn)
        if recorded == now:
            changed = self._changed_globals(sown)
            if not changed:
                return sown
            if not replace_fn:
                shown = ", ".join(repr(name) for name in changed)
                raise FunctionMismatchError(
                    f"the crop {self.name!r} was sown with {old_name} reading other values of "
                    f"{shown} than it reads now (changed since sowing, e.g. by a notebook "
                    "cell): batches grown here would compute with the new values, those in "
                    "worker processes and array tasks with the sown ones, and the results "
                    "would mix the two. Set them back, or grow with crop.grow(..., "
                    "replace_fn=True) to sow the function with today's values (done batches "
                    "keep their results), or delete the crop and sow it again."
                )
        if not replace_fn:
            raise FunctionMismatchError(
                f"the crop {self.name!r} was sown with the function {old_name} (fingerprint "
                f"{str(recorded)[:8]}), not {new_name} (fingerprint {now[:8]}): its results "
                "would mix the two. Grow with crop.grow(..., replace_fn=True) to replace the "
                "saved function (done batches keep their results), or delete the crop and sow "
                "it again with the new one."
            )
        total = sown.plan.num_batches
        running = record_locks.record_locks(self.layout.running_locks).locked_in(1, total + 1)
        if running:
            raise FunctionMismatchError(
                f"cannot replace the function of crop {self.name!r} while batches "
                f"{sorted(running)[:10]} are running with the old one; wait for them (or "
                "cancel them), then grow again with replace_fn=True."
            )
        if self.save_fn:
            fixed = {
                **sown.decoded_constants(),
                **((self.runner.resources or {}) if self.runner is not None else {}),
            }
            payload = shipping.dumps_function(self._fn, fixed)
            storage.write_bytes(self.layout.function, payload)
            sown = replace(sown, fn_sha256=hashlib.sha256(payload).hexdigest())
        replace(
            sown,
            fn_qualname=new_name,
            fn_fingerprint=now,
            fn_globals=shipping.globals_digests(self._fn),
        ).write(self.layout)
        return self._manifest()

    def _changed_globals(self, sown: Manifest) -> list[str]:
        """The globals the function reads whose values differ from those it was sown with."""
        if not sown.fn_globals:
            return []  # sown before they were recorded, or reading none

        def sown_function() -> Any:
            try:
                return load_function(self.layout, sown)[0]
            except FunctionLoadError:
                # none (save_fn=False) or damaged: no sown value can vouch for a live one
                return None

        return shipping.changed_globals(dict(sown.fn_globals), self._fn, sown_function)

    def render(
        self, scheduler: str | None = None, batch_ids: Sequence[int] | None = None, **options: Any
    ) -> str:
        """The array-job script :meth:`grow` would submit (its first chunk), without submitting.

        Takes the same options as :meth:`grow` with ``scheduler``. The scripts and the map
        files they refer to are written to a new ``jobs/<id>/`` folder, so a script can be
        submitted by hand: its header comment holds the command (``cd <logs> && sbatch ...``).
        """
        submit = SubmitOptions.from_keywords(scheduler=scheduler, **options)
        return str(self._render_scripts(batch_ids, submit).texts[0])

    def _render_scripts(
        self, batch_ids: Sequence[int] | None, options: SubmitOptions
    ) -> PreparedSubmission:
        # deferred: cluster renders with jinja2, which growing here never needs
        from . import cluster

        total = self._manifest().plan.num_batches
        batches = (
            list(batch_ids)
            if batch_ids is not None
            else growing.missing_batches(self.layout, total)
        )
        return cluster.render_scripts(self.layout, batches, options)

    gen_cluster_script = render  # xyzpy's name

    def grow_cluster(
        self, scheduler: str = "slurm", batch_ids: Sequence[int] | None = None, **options: Any
    ) -> ClusterJob:
        """xyzpy's name for :meth:`submit` (through :meth:`grow` with a scheduler, which
        ignores the options that only act on this machine)."""
        return self.grow(batch_ids, scheduler=scheduler, **options)

    # xyzpy's per-scheduler names (its deprecated qsub ones included): scripts written for
    # xyzpy call them; each is grow_cluster / gen_cluster_script with the scheduler fixed

    grow_slurm = _with_scheduler("grow_cluster", "slurm")
    grow_sge = _with_scheduler("grow_cluster", "sge")
    grow_pbs = _with_scheduler("grow_cluster", "pbs")
    gen_slurm_script = _with_scheduler("gen_cluster_script", "slurm")
    gen_sge_script = _with_scheduler("gen_cluster_script", "sge")
    gen_pbs_script = _with_scheduler("gen_cluster_script", "pbs")

    def qsub_grow(
        self, batch_ids: Sequence[int] | None = None, *, scheduler: str = "sge", **options: Any
    ) -> ClusterJob:
        """xyzpy's older name for :meth:`grow_cluster`, submitting to SGE by default."""
        return self.grow_cluster(scheduler, batch_ids=batch_ids, **options)

    def gen_qsub_script(
        self, batch_ids: Sequence[int] | None = None, *, scheduler: str = "sge", **options: Any
    ) -> str:
        """xyzpy's older name for :meth:`gen_cluster_script`, for SGE by default."""
        return self.render(scheduler, batch_ids, **options)

    def grow_missing(self, **grow_opts: Any) -> CropStatus | ClusterJob:
        """Grow every batch without a result (see :meth:`grow`).

        xyzpy's ``parallel=True`` (a combo_runner option) grows in a process pool.
        """
        parallel = grow_opts.pop("parallel", False)
        if parallel and grow_opts.get("num_workers") is None and grow_opts.get("executor") is None:
            # an int is the pool size, as in xyzpy's runners
            is_size = isinstance(parallel, int) and not isinstance(parallel, bool)
            grow_opts["num_workers"] = parallel if is_size else (os.cpu_count() or 1)
        return cast("CropStatus | ClusterJob", self.grow(batch_ids=None, **grow_opts))

    def grow_subprocess(
        self,
        batch_ids: int | Sequence[int] | None = None,
        num_workers: int | None = None,
        num_threads: int | None = None,
        gpus: Any = None,
        affinities: Any = None,
        raise_errors: bool = False,
        log: bool = False,
        min_wait: float = 1e-6,
        max_wait: float = 0.1,
        verbosity: int = 1,
        verbosity_grow: int = 0,
        desc: str = "Grow",
        **grow_opts: Any,
    ) -> Any:
        """xyzpy's name for :meth:`grow` in worker processes (``subprocess=True``).

        ``min_wait``/``max_wait`` (xyzpy's polling pauses) and ``verbosity_grow`` are
        accepted and unused: the pool wakes when a worker reports, it does not poll.
        """
        del min_wait, max_wait, verbosity_grow
        return self.grow(
            batch_ids,
            subprocess=True,
            num_workers=num_workers,
            num_threads=num_threads,
            gpus=gpus,
            affinities=affinities,
            raise_errors=raise_errors,
            log=log,
            verbosity=verbosity,
            desc=desc,
            **grow_opts,
        )
