"""Growing a crop locally: in this process, through an executor, or in a pinned worker pool."""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import (
    BatchFailedError,
    CropLoadError,
    FunctionLoadError,
    InvalidInputError,
    InvalidOptionError,
)
from ..folder.failures import last_error, write_failure
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..folder.outcomes import FAILED
from ..folder.results import ResultIndex
from ..folder.throttle import LiveLimit
from ..node import groups
from ..node.worker import LoadedCrop, grow_batch, record_start_failure
from ..store import storage
from ..sweep.gc_pause import collect_young_if_due, paused_gc
from ..sweep.progress import progress_bar
from .grow_options import GrowOptions

__all__ = ["FAILED", "grow", "missing_batches"]


def missing_batches(layout: CropLayout, num_batches: int) -> list[int]:
    """Batches without an intact result: never grown, failed, or whose records are damaged.

    Damaged records found here are reported (a warning naming the file and offset, and a line
    in ``results/damaged``); ``status`` counts the same batches as damaged.
    """
    index = ResultIndex(layout, sowing=Manifest.read(layout).sowing_id).refresh()
    index.sync_done_map(num_batches)  # growers check the map, not the logs: tell it
    return [b for b in range(1, num_batches + 1) if not index.has(b)]


_bundles: dict[tuple[int, str, int], LoadedCrop] = {}


def _grow_in_executor(root: str, batch: int, payload: bytes | None, log: bool) -> str:
    # one LoadedCrop per executor process (and function): the manifest, function and open crop
    # files are loaded once, not once per batch
    key = (os.getpid(), root, hash(payload))
    bundle = _bundles.get(key)
    if bundle is None:
        fn, fixed = (None, None) if payload is None else storage.loads(payload)
        bundle = _bundles[key] = LoadedCrop(CropLayout.from_root(root), fn, fixed)
    return grow_batch(bundle, batch, log=log)


def preflight(
    layout: CropLayout,
    batches: Sequence[int],
    fn: Callable[..., Any] | None,
    fixed: dict[str, Any] | None,
) -> LoadedCrop:
    """Load the function and the crop's inputs once, before any batch is handed out.

    Raises
    ------
    FunctionLoadError, CropLoadError
        Naming the file and what to do, after recording the reason as the failure of each of
        ``batches`` (so ``status`` says it too).
    """
    try:
        return LoadedCrop(layout, fn, fixed)
    except (FunctionLoadError, CropLoadError) as exc:
        record_start_failure(layout, list(batches), exc)
        raise


class _Progress:
    """The bar is drawn by :meth:`start`, once what is said before the work (a warning that
    fewer workers run, a function that cannot load) has been said: a line printed after a
    bar was drawn leaves that bar behind and draws it again below."""

    def __init__(self, total: int, verbosity: int, desc: str) -> None:
        self.bar: Any = None
        self.total = total
        self.desc = desc
        self.verbosity = verbosity

    def start(self) -> None:
        if self.verbosity >= 1 and self.total and self.bar is None:
            self.bar = progress_bar(self.total, self.desc, "batch")

    def update(self, batch: int, status: str) -> None:
        if self.bar is not None:
            if self.verbosity >= 2:
                self.bar.set_postfix_str(f"batch {batch}: {status}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def grow(
    layout: CropLayout,
    batches: Sequence[int],
    *,
    fn: Callable[..., Any] | None,
    fixed: dict[str, Any] | None,
    options: GrowOptions,
    raise_errors: bool | None = None,
) -> dict[int, str]:
    """Grow ``batches`` of a sown crop once and return each batch's status.

    ``raise_errors`` overrides ``options.raise_errors`` (a retried grow raises only on its
    last attempt). See :class:`~xyzfarm.grow_options.GrowOptions` for the options.
    """
    if raise_errors is None:
        raise_errors = options.raise_errors
    subprocess = options.in_workers
    if options.pinned and not subprocess:
        raise InvalidOptionError(
            "num_threads, gpus, affinities, batch_timeout_s and max_mem_gb act on worker "
            "processes: they need subprocess=True (or 'auto')."
        )
    executor, num_workers, log = options.executor, options.num_workers, options.log
    if subprocess and executor is not None:
        raise InvalidOptionError("give an executor or subprocess=True, not both.")
    statuses: dict[int, str] = {}
    sowing = Manifest.read(layout).sowing_id
    progress = _Progress(len(batches), options.verbosity, options.desc)

    def note(batch: int, status: str) -> None:
        statuses[batch] = status
        progress.update(batch, status)
        if status == FAILED and raise_errors:
            raise BatchFailedError(
                f"batch {batch} of crop {layout.name!r} failed: "
                f"{last_error(layout, batch, sowing=sowing)}; "
                f"details in {layout.failed(batch)}."
            )

    try:
        if subprocess:
            if not layout.function.is_file():
                raise InvalidInputError(
                    f"subprocess workers load the function from {layout.function}, which the "
                    "crop does not have; sow with save_fn=True."
                )
            # here, not at the top: the pool brings psutil (~10 ms to import), which growing
            # in this process never needs
            from ..node.pool import WorkerPool
            from ..node.slots import plan_slots

            # workers load the saved function, not this process's: check that one
            preflight(layout, batches, None, None).close()
            slots = plan_slots(num_workers, options.num_threads, options.gpus, options.affinities)
            progress.start()
            with WorkerPool(
                layout,
                slots,
                sowing=sowing,
                log=log,
                batch_timeout_s=options.batch_timeout_s,
                max_mem_gb=options.max_mem_gb,
                max_running=LiveLimit(layout),  # the crop's throttle, changeable meanwhile
            ) as pool:
                pool.run(batches, note)
        elif executor is not None or (num_workers or 1) > 1:
            preflight(layout, batches, fn, fixed).close()
            progress.start()
            _grow_with_executor(
                layout, batches, fn, fixed, executor, num_workers, log, note, sowing
            )
        else:
            bundle = preflight(layout, batches, fn, fixed)
            progress.start()
            # as run_combos: collections triggered by each batch's allocations would scan
            # every long-lived object (xarray, pandas) again and again
            try:
                with paused_gc():
                    for batch in batches:
                        note(batch, grow_batch(bundle, batch))
                        collect_young_if_due()
            finally:
                bundle.close()
    finally:
        progress.close()
    return statuses


def _worker_died(layout: CropLayout, batch: int, exc: BaseException, sowing: bytes | None) -> str:
    """Record that the process pool's worker growing ``batch`` (or the pool) died."""
    write_failure(
        layout,
        batch,
        error_type="WorkerDied",
        message=f"a worker process of the pool died while growing batch {batch}, or before "
        f"it could ({exc}): a case crashed the interpreter (a segfault) or the system killed "
        "it (memory). Grow again; subprocess=True retries such a batch in a fresh worker and "
        "says its exit status.",
        final=False,
        sowing=sowing,
    )
    return FAILED


def _grow_with_executor(
    layout: CropLayout,
    batches: Sequence[int],
    fn: Callable[..., Any] | None,
    fixed: dict[str, Any] | None,
    executor: Any,
    num_workers: int | None,
    log: bool,
    note: Callable[[int, str], None],
    sowing: bytes | None,
) -> None:
    payload = None if fn is None else storage.dumps((fn, fixed))
    own = executor is None
    # our own process pool gets the pinned pool's hygiene: each worker leads a process group
    # and dies with this process, and a sentinel kills those groups (what cases started)
    # when this process dies or the pool is done (see node.groups)
    sentinel = groups.Sentinel() if own else None
    ex = (
        cf.ProcessPoolExecutor(
            num_workers,
            initializer=groups.executor_worker_started,
            initargs=(sentinel.fd if sentinel is not None else -1, os.getpid()),
        )
        if own
        else executor
    )
    if not callable(getattr(ex, "submit", None)):
        raise InvalidInputError(f"executor {ex!r} has no submit() method.")
    try:
        futures = {
            ex.submit(_grow_in_executor, str(layout.root), b, payload, log): b for b in batches
        }
        waiting = [f for f in futures if isinstance(f, cf.Future)]
        if len(waiting) == len(futures):
            for fut in cf.as_completed(waiting):
                try:
                    status = fut.result()
                except BrokenProcessPool as exc:
                    # a case killed its worker (a segfault, the OOM killer): the pool is
                    # broken, and every batch it had not finished is said failed, typed
                    status = _worker_died(layout, futures[fut], exc, sowing)
                note(futures[fut], status)
        else:  # e.g. submitit jobs: not concurrent.futures.Future, but with result()
            for fut, batch in futures.items():
                note(batch, fut.result())
    finally:
        if own:
            ex.shutdown(cancel_futures=True)
        if sentinel is not None:
            sentinel.close()  # kills what the cases left running in the workers' groups
        # bundles opened by thread executors live in this process: close their files now
        for key in [k for k in _bundles if k[0] == os.getpid()]:
            _bundles.pop(key).close()
