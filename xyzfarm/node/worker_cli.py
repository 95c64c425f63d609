"""The command line of ``python -m xyzfarm.worker``: pool workers, array tasks, ``grow``.

``serve`` is a persistent pool worker (batch ids on stdin, one JSON answer per batch on
``--reply-fd``), ``task`` an array task growing the batches its map file gives it, ``grow``
grows the batches named. Each runs the pre-flight (building a
:class:`~xyzfarm.node.worker.LoadedCrop`) first and says why it cannot start instead of growing
nothing; growing itself is :func:`xyzfarm.node.worker.grow_batch`.

LEAN, like :mod:`xyzfarm.worker`: it starts on every compute node (the pool, for tasks with
several workers, is imported only then).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
from typing import Any

from ..errors import (
    CropFormatError,
    CropLoadError,
    CropReplacedError,
    FunctionLoadError,
    LocationError,
    ResultWriteError,
    WorkerStartError,
)
from ..folder.failures import write_failure
from ..folder.layout import CropLayout
from ..folder.manifest import sowing_or_none
from ..folder.outcomes import FAILED
from ..folder.results import ResultIndex
from ..folder.submissions import TaskMap
from ..schedulers import get, job_environment, shell
from .groups import die_with_parent
from .worker import (
    START_FAILED_EXIT,
    LoadedCrop,
    error_info,
    grow_batch,
    record_start_failure,
)


def _exit_on_signal(signum: int, frame: Any) -> None:
    # every finished case is already in the checkpoint: leaving now loses only the case in
    # flight, and SystemExit still releases the batch lock on the way out
    raise SystemExit(128 + signum)


def serve(root: str, reply_fd: int, *, log: bool, cpus: list[int] | None) -> int:
    """Pool worker loop: grow the batch ids read from stdin, answer on ``reply_fd``.

    If the pre-flight (loading the function and the crop's inputs) fails, the first and only
    answer is ``{"start_error": {...}}`` with the reason, and the exit status is
    :data:`START_FAILED_EXIT`: the pool stops instead of restarting a worker that cannot start.
    """
    if cpus:
        os.sched_setaffinity(0, cpus)
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, _exit_on_signal)
    reply = os.fdopen(reply_fd, "w", buffering=1)
    try:
        bundle = LoadedCrop(CropLayout.from_root(root))
    except Exception as exc:
        with contextlib.suppress(BrokenPipeError):
            reply.write(json.dumps({"start_error": error_info(exc)}) + "\n")
        print(f"xyzfarm worker: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return START_FAILED_EXIT
    # BrokenPipeError: the pool is gone; nobody to report to, and every result is on disk
    try:
        with contextlib.suppress(BrokenPipeError):
            _serve_loop(bundle, reply, log)
    finally:
        bundle.close()
    return 0


def _serve_loop(bundle: LoadedCrop, reply: Any, log: bool) -> None:
    reply.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        batch = int(line)
        try:
            status = grow_batch(bundle, batch, log=log)
            answer = {"batch": batch, "status": status}
        except CropReplacedError as exc:  # nothing more to grow for this pool: say why, stop
            reply.write(json.dumps({"replaced": str(exc)}) + "\n")
            return
        except Exception as exc:  # a broken crop file: report it, keep serving
            answer = {"batch": batch, "status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
            if isinstance(exc, (ResultWriteError, LocationError)):
                # the crop folder cannot be written (full, read-only): every batch would
                # fail the same way, so the pool stops and says why, typed
                answer["unwritable"] = str(exc)
            # best effort: a full disk may refuse the record too; the answer says it anyway
            with contextlib.suppress(OSError):
                write_failure(bundle.layout, batch, **error_info(exc), sowing=bundle.sowing)
        reply.write(json.dumps(answer) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m xyzfarm.worker``: the command line of pool workers and array tasks."""
    parser = argparse.ArgumentParser(prog="python -m xyzfarm.worker")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="persistent pool worker (batch ids on stdin)")
    p_serve.add_argument("crop", help="the crop folder (.xyz-<name>)")
    p_serve.add_argument("--reply-fd", type=int, required=True)
    p_serve.add_argument("--log", action="store_true", help="per-batch log files")
    p_serve.add_argument("--cpus", default="", help="comma-separated cores to pin to")
    p_serve.add_argument("--die-with-parent", action="store_true")
    p_task = sub.add_parser("task", help="array task: grow the batches a map file gives it")
    p_task.add_argument("crop")
    p_task.add_argument("--map", required=True, help="JSON map of task index to batch ids")
    p_task.add_argument("--task", type=int, required=True, help="this task's array index")
    p_task.add_argument("--workers", type=int, default=1, help="pinned workers in this task")
    p_task.add_argument("--threads", type=int, default=1, help="threads per worker")
    p_task.add_argument("--log", action="store_true")
    p_grow = sub.add_parser("grow", help="grow the given batches, then exit")
    p_grow.add_argument("crop")
    p_grow.add_argument("batches", type=int, nargs="+")
    p_grow.add_argument("--log", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.die_with_parent:
            # a killed grower never leaves orphans growing batches behind its back (what the
            # worker's cases started is killed by the pool's sentinel: see node.groups)
            parent = os.environ.get("XYZFARM_POOL_PID", "")
            die_with_parent(int(parent) if parent.isdigit() else None)
        cpus = [int(c) for c in args.cpus.split(",") if c]
        return serve(args.crop, args.reply_fd, log=args.log, cpus=cpus or None)
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, _exit_on_signal)
    if args.command == "task":
        try:
            return run_task(
                args.crop,
                args.map,
                args.task,
                workers=args.workers,
                threads=args.threads,
                log=args.log,
            )
        except SystemExit as stop:
            if stop.code == 128 + signal.SIGUSR1:
                _near_time_limit(args.crop, args.map, args.task)
            raise
    layout = CropLayout.from_root(args.crop)
    try:
        bundle = LoadedCrop(layout)
    except Exception as exc:
        return cannot_start(layout, args.batches, exc, "xyzfarm.worker grow")
    try:
        return 0 if FAILED not in [grow_batch(bundle, b, log=args.log) for b in args.batches] else 1
    finally:
        bundle.close()


def _requeue_count_file(map_file: str, task: int) -> str:
    return f"{map_file}.task-{task}.requeues"


def _requeues_recorded(map_file: str, task: int) -> int:
    """How many times this task asked to be requeued, by xyzfarm's own count."""
    try:
        with open(_requeue_count_file(map_file, task)) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _record_requeue(map_file: str, task: int, count: int) -> None:
    """Write the count before asking: the requeue may kill this process at once."""
    path = _requeue_count_file(map_file, task)
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w") as f:
        f.write(f"{count}\n")
    os.replace(temp, path)


def _near_time_limit(root: str, map_file: str, task: int) -> None:
    """SIGUSR1, the warning before the time limit: every finished case is checkpointed.

    Within the requeue budget (``XYZFARM_MAX_REQUEUES``, from the ``max_requeues`` resource)
    the task asks its scheduler to run it again (``requeue_argv`` of its scheduler module), to
    resume from its checkpoints with a fresh limit. Past it, or where the scheduler cannot
    requeue a task from inside, the unfinished batches are recorded as failed with
    ``Timeout``, so ``retries`` resubmit them with a longer walltime.
    """
    job = job_environment()
    budget = int(os.environ.get("XYZFARM_MAX_REQUEUES") or 1)
    requeue = get(job.scheduler).requeue_argv(job) if job else None
    restarts = (job.restart_count or 0) if job else 0
    if job is not None and requeue is not None:
        # a scheduler that does not count restarts (LSF) gets ours, kept beside the map file
        counted = job.restart_count is None
        restarts = _requeues_recorded(map_file, task) if counted else job.restart_count or 0
        if restarts < budget:
            if counted:
                _record_requeue(map_file, task, restarts + 1)
            done = shell.run(requeue, check=False)
            print(
                f"xyzfarm: warned before the time limit; requeued ({shlex.join(requeue)}): "
                f"{'ok' if done.returncode == 0 else done.stderr.strip()}",
                file=sys.stderr,
            )
            return
    layout = CropLayout.from_root(root)
    sowing = sowing_or_none(layout)
    index = ResultIndex(layout, report=False, lazy=True, sowing=sowing).refresh()
    for batch in TaskMap.read(map_file).batches(task):
        if not index.has(batch):
            write_failure(
                layout,
                batch,
                error_type="Timeout",
                case=None,
                traceback=None,
                restart_count=restarts,
                sowing=sowing,
                message=f"batch {batch} was still running near the time limit after "
                f"{restarts} requeue(s); grow it again with a longer walltime.",
            )
    why = "requeue budget spent" if requeue else "the scheduler cannot requeue this task"
    print(
        f"xyzfarm: warned before the time limit; {why}: recorded Timeout",
        file=sys.stderr,
    )


def cannot_start(layout: CropLayout, batches: list[int], exc: BaseException, who: str) -> int:
    """A task (or worker command) whose pre-flight failed: record why for each of its
    batches, say it on stderr (the task log), and return :data:`START_FAILED_EXIT`."""
    recorded = record_start_failure(layout, batches, exc)
    print(
        f"xyzfarm: {who} cannot start: {type(exc).__name__}: {exc}\n"
        f"xyzfarm: recorded as the failure of batch(es) {recorded}; nothing was grown.",
        file=sys.stderr,
    )
    return START_FAILED_EXIT


def run_task(root: str, map_file: str, task: int, *, workers: int, threads: int, log: bool) -> int:
    """An array task: grow the batches of ``task`` in the map, in a pinned pool if asked.

    Pre-flight first: the function and the crop's inputs are loaded once, here; if that fails
    every batch of the task is recorded as failed with the reason, and the task exits with
    :data:`START_FAILED_EXIT` within seconds instead of starting workers that cannot start.
    """
    try:
        batches = list(TaskMap.read(map_file).batches(task))
    except CropFormatError as exc:
        print(f"xyzfarm: array task {task} cannot start: {exc}", file=sys.stderr)
        return START_FAILED_EXIT
    if not batches:
        print(f"xyzfarm: task {task} has no batches in {map_file}", file=sys.stderr)
        return 0
    layout = CropLayout.from_root(root)
    try:
        bundle = LoadedCrop(layout)
    except Exception as exc:
        return cannot_start(layout, batches, exc, f"array task {task}")
    if workers <= 1:
        try:
            statuses = [grow_batch(bundle, b, log=log) for b in batches]
        except CropReplacedError as exc:
            print(f"xyzfarm: array task {task} stopped: {exc}", file=sys.stderr)
            return START_FAILED_EXIT
        finally:
            bundle.close()
        return 0 if FAILED not in statuses else 1
    bundle.close()
    # the pool pins its workers inside this task's allocation (its affinity mask, the
    # GPUs the scheduler exported); imported here to keep single-worker tasks lean
    from .pool import WorkerPool
    from .slots import plan_slots

    statuses = []
    slots = plan_slots(
        num_workers=workers,
        num_threads=threads,
        gpus=os.environ.get("CUDA_VISIBLE_DEVICES") or None,
    )
    try:
        with WorkerPool(layout, slots, log=log, sowing=sowing_or_none(layout)) as pool:
            pool.run(batches, lambda batch, status: statuses.append(status))
    except (FunctionLoadError, CropLoadError, WorkerStartError, CropReplacedError) as exc:
        # the pool recorded the reason for every batch it had left
        print(f"xyzfarm: array task {task} stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return START_FAILED_EXIT
    return 0 if FAILED not in statuses else 1
