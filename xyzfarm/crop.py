"""The Crop: sow a big sweep into batches on disk, grow them anywhere, reap them into one place.

The crop folder is the truth: whatever grew the batches (this process, a pool of pinned
workers, array jobs on a cluster), done means a result file exists and checks out. Every
phase can be re-run: sowing the same sweep again changes nothing, growing skips finished
batches and resumes interrupted ones from their last finished case, and reaping publishes the
merged data atomically before it removes anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import growing, manifest, shipping, storage
from . import reap as reaping
from .errors import (
    CropIncompleteError,
    FunctionMismatchError,
    InvalidInputError,
    LocationError,
    OutputMismatchError,
)
from .layout import FOLDER_PREFIX, CropLayout
from .results import ResultIndex
from .runner import runner_of
from .sow import farmer_record, sow
from .state import CropStatus, crop_status
from .worker import load_function

if TYPE_CHECKING:
    import xarray as xr

    from .runner import Runner


def _unwrap_labelled(fn: Any, farmer: Any) -> tuple[Any, Any]:
    """The plain function and the farmer, when ``fn`` is a labelled function (a Runner).

    A labelled function describes its outputs: the crop takes that description (as if it were
    the farmer) so the outputs are checked against it, instead of being taken as self-labelled
    and refused at reap, after every case ran. A farmer describing them otherwise is refused.
    """
    from .runner import Farmer, Runner

    if isinstance(fn, Farmer):
        fn = fn.runner  # the Harvester's or Sampler's file is not asked for: only the function
    if not isinstance(fn, Runner):
        return fn, farmer
    given = runner_of(farmer)
    if given is None:
        return fn.fn, fn
    ours = (fn.var_names, fn.var_dims, fn.var_coords)
    theirs = (given.var_names, given.var_dims, given.var_coords)
    if ours != theirs:
        raise OutputMismatchError(
            f"fn is labelled with var_names={ours[0]}, var_dims={ours[1]}, var_coords for "
            f"{sorted(ours[2] or {})}, but the farmer's with var_names={theirs[0]}, "
            f"var_dims={theirs[1]}, var_coords for {sorted(theirs[2] or {})}; pass only one "
            "of them (farmer=...), or label both alike."
        )
    return fn.fn, farmer


def _farmer_from_disk(layout: CropLayout) -> Any:
    """The Runner, Harvester or Sampler a crop was sown for, rebuilt from its folder.

    None when the crop was sown without one, or its function was not saved (or cannot be
    loaded here): reaping then goes by the manifest's record alone.
    """
    if not (layout.exists() and layout.function.is_file()):
        return None
    try:
        data = manifest.read(layout)
        record = data.get("farmer")
        if not record:
            return None
        fn = load_function(layout)[0]
    except Exception:  # an unloadable function only means no farmer
        return None
    from .harvester import Harvester
    from .runner import Runner
    from .sampler import Sampler
    from .sow import schema_from_json

    schema = schema_from_json(data["schema"])
    runner = Runner(
        fn,
        schema.var_names,
        var_dims=schema.var_dims,
        var_coords=schema.var_coords,
        constants={k: manifest.decode(v) for k, v in data["constants"].items()},
        attrs={k: manifest.decode(v) for k, v in data["attrs"].items()},
    )
    if record["kind"] == "harvester":
        path = layout.parent_dir / record["data_name"]
        return Harvester(runner, data_name=str(path), engine=record["engine"])
    if record["kind"] == "sampler":
        path = layout.parent_dir / record["data_name"]
        return Sampler(runner, data_name=str(path), engine=record["engine"])
    return runner


def _check_parent_dir(parent_dir: Path) -> None:
    # the nearest existing folder on the way must be a folder, or sowing fails half-way
    for folder in (parent_dir, *parent_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise LocationError(
                    f"parent_dir {os.fspath(parent_dir)!r} cannot hold a crop: "
                    f"{os.fspath(folder)!r} is a file, not a folder. Give a folder as parent_dir."
                )
            return


class Crop:
    """A sweep sown into batches in the folder ``<parent_dir>/.xyz-<name>/``.

    Parameters
    ----------
    fn : callable, optional
        The function to grow (taken from ``farmer`` if not given); its name is the default
        crop name. A labelled function (a Runner) also gives the outputs' description, as
        ``farmer`` would; a farmer describing them otherwise raises
        :class:`~xyzfarm.errors.OutputMismatchError`.
    name : str, optional
        The crop's name; needed if there is no function.
    parent_dir : path-like, optional
        Folder holding the crop folder (default: the current directory).
    save_fn : bool, optional
        Save the function in the crop folder so worker processes and array tasks can load it
        (default: True when there is a function).
    batchsize, num_batches : int, optional
        Target cases per batch, or number of batches (default: one case per batch).
    shuffle : bool or int, optional
        Sow cases in a random (seeded) order, to balance slow and fast cases across batches.
    farmer : Runner, Harvester or Sampler, optional
        Where reaping delivers: the Runner's ``last_ds``, the Harvester's file, the Sampler's
        table. A crop loaded without one reaps into what it was sown for.
    autoload : bool, optional
        Accepted for xyzpy compatibility: an existing crop is always found by its folder.

    Raises
    ------
    InvalidInputError
        If the name is empty, too long for the filesystem, or would escape ``parent_dir``.
    LocationError
        If ``parent_dir`` (or a folder on its way) is a file.
    """

    def __init__(
        self,
        *,
        fn: Any = None,
        name: str | None = None,
        parent_dir: str | os.PathLike[str] | None = None,
        save_fn: bool | None = None,
        batchsize: int | None = None,
        num_batches: int | None = None,
        shuffle: bool | int = False,
        farmer: Any = None,
        autoload: bool = True,
    ) -> None:
        del autoload
        fn, farmer = _unwrap_labelled(fn, farmer)
        runner = runner_of(farmer)
        if fn is None and runner is not None:
            fn = runner.fn
        if name is None:
            name = getattr(fn, "__name__", None)
            if name is None or name == "<lambda>":
                raise InvalidInputError("give the crop a name: its function has none to borrow.")
        if save_fn and fn is None:
            raise InvalidInputError("save_fn=True needs a function to save.")
        self.layout = CropLayout(name, parent_dir)
        _check_parent_dir(self.layout.parent_dir)
        self._fn = fn
        if farmer is None and fn is None:
            # as xyzpy, a crop found by name brings back what it was sown for
            farmer = _farmer_from_disk(self.layout)
            if farmer is not None:
                self._fn = farmer.fn
        self.farmer = farmer
        self.save_fn = save_fn is not False
        # what to sow with; once sown, the properties give the sown plan instead
        self._batchsize = batchsize
        self._num_batches = num_batches
        self.shuffle = shuffle
        #: where and how each case of the last reap was computed (``reap(provenance="beside")``)
        self.provenance: xr.Dataset | None = None

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def location(self) -> str:
        """The crop folder."""
        return str(self.layout.root)

    @property
    def parent_dir(self) -> str:
        return str(self.layout.parent_dir)

    @property
    def runner(self) -> Runner | None:
        return runner_of(self.farmer)

    @property
    def fn(self) -> Any:
        return self._fn

    @fn.setter
    def fn(self, fn: Any) -> None:
        self._fn = fn

    @property
    def num_batches(self) -> int | None:
        """Number of batches: the sown plan's once sown (as xyzpy), else the number asked for."""
        if self.is_prepared():
            return int(self._manifest()["plan"]["num_batches"])
        return self._num_batches

    @num_batches.setter
    def num_batches(self, value: int | None) -> None:
        self._num_batches = value

    @property
    def batchsize(self) -> int | None:
        """Cases per batch (the largest batch once sown, as xyzpy), else the size asked for."""
        if self.is_prepared():
            plan = self._manifest()["plan"]
            return max(1, math.ceil(plan["num_cases"] / max(1, plan["num_batches"])))
        return self._batchsize

    @batchsize.setter
    def batchsize(self, value: int | None) -> None:
        self._batchsize = value

    def is_prepared(self) -> bool:
        """Whether the crop has been sown."""
        return self.layout.exists()

    def _manifest(self) -> dict[str, Any]:
        return manifest.read(self.layout)

    # -- sowing ------------------------------------------------------------------------------

    def _schema_parts(self, constants: Mapping[str, Any] | None) -> dict[str, Any]:
        from .assemble import check_schema

        runner = self.runner
        if runner is not None:
            return {
                "schema": runner.schema,
                "constants": {**(runner.constants or {}), **dict(constants or {})},
                "resources": runner.resources or {},
                "attrs": runner.attrs,
            }
        return {
            "schema": check_schema(None, None, None),
            "constants": dict(constants or {}),
            "resources": {},
            "attrs": {},
        }

    def _sow(
        self,
        *,
        combos: Any,
        cases: Any,
        fn_args: Any,
        constants: Any,
        batchsize: int | None,
        num_batches: int | None,
        shuffle: bool | int,
        unique: bool = True,
    ) -> dict[str, Any]:
        batchsize = self._batchsize if batchsize is None else batchsize
        num_batches = self._num_batches if num_batches is None else num_batches
        if batchsize is None and num_batches is None:
            batchsize = 1
        return sow(
            self.layout,
            fn=self._fn,
            combos=combos,
            cases=cases,
            fn_args=fn_args,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=shuffle or self.shuffle,
            save_fn=self.save_fn,
            farmer=farmer_record(self.farmer, self.layout.parent_dir),
            unique=unique,
            **self._schema_parts(constants),
        )

    def sow_combos(
        self,
        combos: Mapping[str, Any],
        cases: Iterable[Mapping[str, Any]] | None = None,
        constants: Mapping[str, Any] | None = None,
        shuffle: bool | int = False,
        verbosity: int = 1,
        desc: str = "Sow",
        batchsize: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        """Sow every combination of ``combos`` (times any ``cases``) into batches.

        ``...`` as a value takes every value the farmer Harvester's file already has.
        Sowing the same sweep again is a no-op; a different sweep under the same name is
        refused with :class:`~xyzfarm.errors.CropMismatchError`.
        """
        del verbosity, desc
        from .harvester import Harvester

        if isinstance(self.farmer, Harvester):
            combos = self.farmer._maybe_expand_combos(combos)
        self._sow(
            combos=combos,
            cases=cases,
            fn_args=None,
            constants=constants,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=shuffle,
        )

    def sow_cases(
        self,
        fn_args: Sequence[str] | str | None,
        cases: Iterable[Any],
        combos: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        verbosity: int = 1,
        batchsize: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        """Sow explicit ``cases`` (tuples follow ``fn_args``), each times any ``combos``."""
        del verbosity
        fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
        if fn_args is None and self.runner is not None:
            fn_args = self.runner.fn_args
        self._sow(
            combos=combos,
            cases=cases,
            fn_args=fn_args,
            constants=constants,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=False,
        )

    def sow_samples(
        self,
        n: int,
        combos: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        verbosity: int = 1,
    ) -> None:
        """Sow ``n`` random cases drawn by the farmer Sampler (repeats allowed)."""
        from .sampler import Sampler

        del verbosity
        if not isinstance(self.farmer, Sampler):
            raise InvalidInputError("sow_samples needs a Sampler as the crop's farmer.")
        fn_args, cases = self.farmer.gen_cases_fnargs(n, combos)
        self._sow(
            combos=None,
            cases=cases,
            fn_args=fn_args,
            constants=constants,
            batchsize=None,
            num_batches=None,
            shuffle=False,
            unique=False,
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def num_sown_batches(self) -> int:
        """Number of batches sown (-1 if not sown)."""
        return self._manifest()["plan"]["num_batches"] if self.is_prepared() else -1

    @property
    def num_results(self) -> int:
        """Number of batches with a result (-1 if not sown, as xyzpy)."""
        return len(self.completed_results()) if self.is_prepared() else -1

    @property
    def all_nan_result(self) -> Any:
        """A stand-in for a missing result: the first finished result's shape, all NaN.

        Raises
        ------
        CropIncompleteError
            If no batch has finished yet (there is no result to take the shape from).
        """
        from .nested import nan_like

        if self.is_prepared():
            index = ResultIndex(self.layout).refresh()
            for batch in sorted(index.done()):
                with contextlib.suppress(KeyError):
                    return nan_like(index.load(batch)["outputs"][0])
        raise CropIncompleteError(
            f"the crop {self.name!r} has no finished batch to infer an all-NaN result from; "
            "grow at least one batch first (crop.grow(1))."
        )

    def completed_results(self) -> tuple[int, ...]:
        """Ids of batches with an intact result."""
        total = self.num_sown_batches
        done = ResultIndex(self.layout).refresh().done()
        return tuple(sorted(b for b in done if 1 <= b <= total))

    def missing_results(self) -> tuple[int, ...]:
        """Ids of batches without an intact result."""
        return tuple(growing.missing_batches(self.layout, self.num_sown_batches))

    def status(self) -> CropStatus:
        """Counts of done / failed / running / missing batches, from the folder's files."""
        return crop_status(self.layout)

    def is_ready_to_reap(self) -> bool:
        """Whether every batch has a result."""
        return self.is_prepared() and not self.missing_results()

    def __repr__(self) -> str:
        state = str(self.status()) if self.is_prepared() else "not sown"
        return f"<xyzfarm.Crop {self.name!r} at {self.location}: {state}>"

    __str__ = __repr__

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
            with a :class:`~xyzfarm.schedulers.submit.ClusterJob` unless ``wait``.
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
                **(self.runner.resources if self.runner is not None else {}),
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

    # -- reaping -----------------------------------------------------------------------------

    def _wait(self, timeout_s: float | None, poll_interval_s: float) -> None:
        start = time.monotonic()
        while self.missing_results():
            state = self.status()
            if state.running == 0 and state.failed and state.failed + state.done == state.total:
                return  # nothing left that could finish: reap reports the failures
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                return
            time.sleep(poll_interval_s)

    def reap(
        self,
        wait: bool = False,
        sync: bool = True,
        overwrite: bool | None = None,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        *,
        wait_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
        provenance: str | bool = "beside",
        into: str | os.PathLike[str] | None = None,
    ) -> Any:
        """Merge every result into the farmer and, once it is safe, delete the crop folder.

        With a Harvester the results are merged into its file under its lock and published
        atomically; with a Runner they become its ``last_ds``; with a Sampler, rows of its
        table; with no farmer, the Dataset is returned. Two reaps at once are serialised; the
        second finds nothing left and returns the same data.

        Every published value is proven first: each result record must hold exactly its
        batch's cases (a record that does not is marked damaged and its batch grown again),
        and the values placed are counted against the sown cases.

        What is deleted, and when (``clean_up``, default True when nothing is missing):

        * Harvester or Sampler with a file, or ``into=``: the crop folder is deleted only
          after the merged file has been published (written, synced and renamed into place).
        * Runner, a Harvester with ``sync=False``, or no farmer (a crop found by name that
          was sown by a Runner): the results exist only in memory, in the returned Dataset
          (and the Runner's ``last_ds``); the crop folder is deleted when they have been
          handed over, as xyzpy does. Pass ``clean_up=False`` (or ``into=``) to keep them on
          disk.
        * Any batch without a result: the crop folder is kept, whatever ``clean_up`` says
          (with ``clean_up=True`` a warning says so): its missing batches can still be
          grown. :meth:`delete_all` discards a crop on purpose.
        * An error while reading, checking or delivering: nothing is deleted, so the crop
          can simply be reaped again.

        Parameters
        ----------
        wait : bool
            Poll until every batch has a result (or only failed ones remain).
        sync : bool
            With a Harvester: merge into its file (True) or only into memory.
        overwrite : {None, True, False}
            Conflict handling when merging (see :meth:`Harvester.add_ds`).
        clean_up : bool, optional
            Delete the crop folder after reaping (default: when every batch has a result);
            never while a batch is missing.
        allow_incomplete : bool
            Reap what exists: every finished case, including those a failed or interrupted
            batch checkpointed in ``partial/<i>``; cases never finished are NaN. Otherwise a
            crop with any case missing raises :class:`~xyzfarm.errors.CropIncompleteError`
            and nothing is published.
        provenance : {'beside', 'in', False}
            Where to put, for every case, where and how it was computed (the ``xyz_*``
            variables: host, job, task, attempt, restarts, version, start, seconds; see
            :data:`xyzfarm.reap.PROVENANCE`). ``'beside'`` (default; True means the same):
            next to the data, which stays exactly what xyzpy gives: in the data file's
            ``provenance`` group (a Harvester's :attr:`~xyzfarm.Harvester.provenance`), a
            Runner's ``last_provenance``, and this crop's :attr:`provenance`. ``'in'``: as
            variables of the reaped Dataset itself. False: nowhere.
        into : path-like, optional
            Merge into this h5netcdf file instead (under its lock, atomically), whatever the
            crop was sown for; the merged Dataset is returned.

        Raises
        ------
        CropIncompleteError
            If a case has no proven value and ``allow_incomplete`` is False.
        CropFormatError
            If the manifest fails its checks (see :func:`xyzfarm.manifest.read`).
        """
        del verbosity, desc
        provenance = reaping.check_provenance_mode(provenance)
        if self.farmer is None and into is None and not self._sown_for_farmer():
            # sown from a bare function: xyzpy's raw nested results
            return self.reap_combos(
                wait=wait,
                clean_up=clean_up,
                allow_incomplete=allow_incomplete,
                wait_timeout_s=wait_timeout_s,
                poll_interval_s=poll_interval_s,
            )

        def deliver(harvest: reaping.Harvest, data: dict[str, Any]) -> Any:
            out, self.provenance = reaping.deliver(
                self.farmer,
                self.layout,
                harvest,
                data,
                sync=sync,
                overwrite=overwrite,
                provenance=provenance,
                into=None if into is None else os.fspath(into),
            )
            return out

        return self._reap(
            deliver,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=wait_timeout_s,
            poll_interval_s=poll_interval_s,
        )

    def _sown_for_farmer(self) -> bool:
        return self.is_prepared() and bool(self._manifest().get("farmer"))

    def _reap(
        self,
        deliver: Any,
        *,
        wait: bool,
        clean_up: bool | None,
        allow_incomplete: bool,
        wait_timeout_s: float | None,
        poll_interval_s: float,
        raw: bool = False,
    ) -> Any:
        """Read and prove every result, hand them to ``deliver``, then clean up if it is safe.

        ``raw`` reads each output as the function returned it, whatever the crop was sown
        with; a crop that is gone raises then (there is no farmer to hold its data).
        """
        if wait:
            self._wait(wait_timeout_s, poll_interval_s)
        with storage.locked(self.layout.reap_lock):
            if not self.is_prepared():
                self.layout.check_not_orphaned()
                if raw:
                    raise CropIncompleteError(
                        f"no crop at {self.location!r} to reap: it was reaped already or never "
                        "sown."
                    )
                # reaped and cleaned up already (perhaps by a concurrent reaper): the data
                # is where it was delivered, and there is nothing to do twice
                warnings.warn(
                    f"no crop at {self.location!r} to reap: it was reaped already or never sown.",
                    stacklevel=3,
                )
                return reaping.delivered(self.farmer)
            data = self._manifest()
            if raw:
                from .raw_reap import unlabelled

                data = unlabelled(data)
            harvest = reaping.read_results(self.layout, data, allow_incomplete=allow_incomplete)
            out = deliver(harvest, data)
            if harvest.missing and clean_up:
                warnings.warn(
                    f"the crop {self.name!r} was kept at {self.location!r}: "
                    f"{len(harvest.missing)} of its batches have no result and can still be "
                    "grown; delete it on purpose with crop.delete_all().",
                    stacklevel=3,
                )
            elif clean_up if clean_up is not None else harvest.complete:
                reaping.delete_crop(self.layout)
        return out

    def reap_combos(
        self,
        wait: bool = False,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        *,
        wait_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
    ) -> Any:
        """The raw results as nested tuples, as :func:`~xyzfarm.combo_runner` returns them.

        One nesting level per swept argument; with ``allow_incomplete``, cases without a
        result hold NaN shaped like a finished result (:attr:`all_nan_result`). Cleaning up
        is as for :meth:`reap`.

        Raises
        ------
        CropIncompleteError
            If a case has no result and ``allow_incomplete`` is False, or no case has one.
        """
        from .raw_reap import nested_results

        del verbosity, desc
        return self._reap(
            lambda harvest, data: nested_results(harvest, self.layout),
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=wait_timeout_s,
            poll_interval_s=poll_interval_s,
            raw=True,
        )

    def reap_combos_to_ds(
        self,
        var_names: Any = None,
        var_dims: Any = None,
        var_coords: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        parse: bool = True,
        wait: bool = False,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        to_df: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
    ) -> Any:
        """The results labelled now, as :func:`~xyzfarm.combo_runner_to_ds` would label them.

        Parameters
        ----------
        var_names, var_dims, var_coords
            The outputs' description (see :class:`~xyzfarm.Runner`), whatever the crop was
            sown with.
        constants, attrs : mapping, optional
            Saved with the data: constants naming a dimension as its coordinate, the rest
            (and ``attrs``) as attributes.
        to_df : bool
            Return a DataFrame with one row per case instead.
        wait, clean_up, allow_incomplete
            As for :meth:`reap`; missing cases are NaN.
        """
        from .assemble import check_schema
        from .raw_reap import labelled_dataset, labelled_table

        del parse, verbosity, desc
        schema = check_schema(var_names, var_dims, var_coords)

        def label(harvest: reaping.Harvest, data: dict[str, Any]) -> Any:
            if to_df:
                return labelled_table(harvest, schema)
            return labelled_dataset(harvest, schema, dict(constants or {}), dict(attrs or {}))

        return self._reap(
            label,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=None,
            poll_interval_s=0.5,
            raw=True,
        )

    def reap_samples(
        self,
        sampler: Any = None,
        wait: bool = False,
        sync: bool = True,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
    ) -> Any:
        """The results as rows of ``sampler``'s table (default the crop's farmer Sampler).

        Returns the new rows as a DataFrame; with ``sync`` they are also appended to the
        Sampler's table (and file).
        """
        from .sampler import Sampler

        del verbosity, desc
        sampler = self.farmer if sampler is None else sampler
        if not isinstance(sampler, Sampler):
            raise InvalidInputError(
                f"reap_samples needs a Sampler (given, or the crop's farmer), got {sampler!r}."
            )

        def deliver(harvest: reaping.Harvest, data: dict[str, Any]) -> Any:
            table = reaping.to_table(harvest)
            if sync:
                sampler.add_df(table, sync=sync)
            return table

        return self._reap(
            deliver,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=None,
            poll_interval_s=0.5,
        )

    def delete_all(self) -> None:
        """Delete the crop folder and everything in it."""
        reaping.delete_crop(self.layout)

    def check_bad(self, delete_bad: bool = True) -> tuple[int, ...]:
        """Ids of batches whose every result record is damaged (they count as missing).

        A record is damaged when it fails its checksum or does not hold exactly its batch's
        cases, as reaping checks; such records are listed in ``results/damaged`` and ignored
        from then on, so growing grows their batches again. ``delete_bad`` is accepted for
        xyzpy compatibility.
        """
        del delete_bad
        total = self.num_sown_batches
        index = ResultIndex(self.layout).refresh()
        for batch in self.completed_results():
            with contextlib.suppress(KeyError):
                index.load(batch)  # also refuses records that do not hold their batch's cases
        return tuple(sorted(b for b in index.damaged() if 1 <= b <= total))


def load_crops(directory: str | os.PathLike[str] = ".") -> dict[str, Crop]:
    """Every crop found in ``directory``, by name."""
    crops = {}
    for entry in sorted(Path(directory).iterdir()):
        if entry.name.startswith(FOLDER_PREFIX) and (entry / "crop.json").is_file():
            name = entry.name[len(FOLDER_PREFIX) :]
            crops[name] = Crop(name=name, parent_dir=directory)
    return crops
