"""A pool of persistent, pinned worker processes growing batches (the only user of psutil).

Each worker is ``python -m xyzfarm.worker serve`` started once and fed batch ids, so the cost
of an interpreter start and of loading the function is paid per worker, not per batch (xyzpy
starts a process per batch, ~0.9 s each). Every worker gets its own disjoint set of cores
(``sched_setaffinity``), its own GPU(s) (``CUDA_VISIBLE_DEVICES``) and thread-count variables
set in its environment before Python starts, so numerical libraries read them on import.

A worker that dies is replaced; its batch is retried once, then reported as failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from .errors import InvalidInputError
from .layout import CropLayout
from .worker import FAILED, record_failure

#: environment variables that cap the threads of common numerical libraries
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
#: how often a batch may lose its worker before it is reported failed
MAX_WORKER_DEATHS = 2


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
    """GPU ids from a count, a ``'0,1'`` string or a sequence; refuse anything else.

    Ids are non-negative integers or GPU/MIG UUIDs (``GPU-...``, ``MIG-...``), the forms
    ``CUDA_VISIBLE_DEVICES`` accepts; a count ``n`` means ids ``0..n-1``.

    Raises
    ------
    InvalidInputError
        Naming the value, for a count below 1, no ids, or an id of another form.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a count, a list of ids or 'a,b,c', got {value!r}.")
    if isinstance(value, int):
        if value < 1:
            raise InvalidInputError(f"{what}={value} must be at least 1.")
        return [str(i) for i in range(value)]
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
    if isinstance(affinities, int) and not isinstance(affinities, bool):
        cores: list[Any] = available[:affinities]
        if len(cores) < affinities:
            raise InvalidInputError(
                f"affinities={affinities} asks for more cores than this process may use "
                f"({available})."
            )
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


@dataclass
class _Worker:
    slot: Slot
    proc: subprocess.Popen[bytes]
    reply: IO[str]
    ready: bool = False
    batch: int | None = None
    buffer: str = field(default="")
    started: float = 0.0
    kill_reason: tuple[str, str] | None = None


def child_pythonpath() -> str:
    """``PYTHONPATH`` for child interpreters (pool workers, array tasks): the session's own
    entries only, so they import the user's modules and this xyzfarm as this process does.

    That is the working directory first, then every ``sys.path`` entry outside the
    interpreter's installation (an editable checkout, a folder the user added), and this
    xyzfarm's folder when it is not installed. Never the standard library or site-packages:
    another interpreter (``python=`` resource, a ``module load``) brings its own, and a
    leaked one of another version breaks it ("SRE module mismatch").
    """
    from .shipping import is_installed

    here = str(Path(__file__).resolve().parent.parent)
    entries = [os.getcwd(), *[p if p else os.getcwd() for p in sys.path]]
    if not is_installed(here):
        entries.insert(1, here)
    own = [p for p in entries if not is_installed(p) and os.path.isdir(p)]
    return os.pathsep.join(dict.fromkeys(own))


class WorkerPool:
    """Persistent pinned workers growing the batches of one crop.

    Parameters
    ----------
    layout : CropLayout
        The crop (its function must be saved in the folder).
    slots : sequence of Slot
        One worker per slot.
    log : bool
        Write each batch's stdout/stderr to ``logs/batch-<i>.log``.
    """

    def __init__(
        self,
        layout: CropLayout,
        slots: Sequence[Slot],
        *,
        log: bool = False,
        batch_timeout_s: float | None = None,
        max_mem_gb: float | None = None,
    ) -> None:
        self.layout = layout
        self.slots = list(slots)
        self.log = log
        self.batch_timeout_s = batch_timeout_s
        self.max_mem_gb = max_mem_gb
        self._checked_mem = 0.0
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        self.deaths: dict[int, int] = {}

    def _start(self, slot: Slot) -> _Worker:
        read_fd, write_fd = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "xyzfarm.worker",
            "serve",
            str(self.layout.root),
            "--reply-fd",
            str(write_fd),
            "--die-with-parent",
        ]
        if slot.cpus:
            cmd += ["--cpus", ",".join(map(str, slot.cpus))]
        if self.log:
            cmd.append("--log")
        env = slot.env(dict(os.environ))
        env["PYTHONPATH"] = child_pythonpath()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env)
        finally:
            os.close(write_fd)
        reply = os.fdopen(read_fd, "r")
        os.set_blocking(read_fd, False)
        worker = _Worker(slot, proc, reply)
        self.selector.register(reply, selectors.EVENT_READ, worker)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.reply)
        worker.reply.close()
        if worker.proc.stdin:
            with contextlib.suppress(OSError):
                worker.proc.stdin.close()
        self.workers.remove(worker)

    def run(self, batches: Sequence[int], on_result: Callable[[int, str], None]) -> None:
        """Grow ``batches``; call ``on_result(batch, status)`` as each one ends."""
        pending = list(batches)
        for slot in self.slots[: max(1, len(pending))]:
            self._start(slot)
        while pending or any(w.batch is not None for w in self.workers):
            for worker in list(self.workers):
                if worker.ready and worker.batch is None and pending:
                    worker.batch = pending.pop(0)
                    worker.started = time.monotonic()
                    assert worker.proc.stdin is not None
                    try:
                        worker.proc.stdin.write(f"{worker.batch}\n".encode())
                        worker.proc.stdin.flush()
                    except BrokenPipeError:
                        pass  # it died: noticed below
            for key, _ in self.selector.select(timeout=0.05):
                self._read(key.data, on_result)
            self._enforce_limits()
            for worker in list(self.workers):
                if worker.proc.poll() is not None:
                    self._read(worker, on_result)  # answers sent just before exiting
                    self._died(worker, pending, on_result)

    def _enforce_limits(self) -> None:
        """Kill a worker whose batch runs too long or whose memory (with children) is too big."""
        now = time.monotonic()
        check_mem = self.max_mem_gb is not None and now - self._checked_mem > 0.25
        if check_mem:
            self._checked_mem = now
        for worker in self.workers:
            if worker.batch is None or worker.kill_reason is not None:
                continue
            if self.batch_timeout_s is not None and now - worker.started > self.batch_timeout_s:
                worker.kill_reason = (
                    "BatchTimeout",
                    f"batch {worker.batch} ran longer than "
                    f"batch_timeout_s={self.batch_timeout_s} and was killed.",
                )
            elif check_mem and self.max_mem_gb is not None:
                rss_gb = _tree_rss(worker.proc.pid) / 2**30
                if rss_gb > self.max_mem_gb:
                    worker.kill_reason = (
                        "MemoryLimit",
                        f"the worker growing batch {worker.batch} "
                        f"used {rss_gb:.2f} GB > max_mem_gb={self.max_mem_gb} "
                        "and was killed.",
                    )
            if worker.kill_reason is not None:
                _kill_tree(worker.proc.pid)

    def _read(self, worker: _Worker, on_result: Callable[[int, str], None]) -> None:
        try:
            chunk = worker.reply.read()
        except (OSError, ValueError):
            return
        if not chunk:
            return
        worker.buffer += chunk
        *lines, worker.buffer = worker.buffer.split("\n")
        for line in lines:
            msg = json.loads(line)
            if "ready" in msg:
                worker.ready = True
            elif msg.get("batch") == worker.batch:
                worker.batch = None
                on_result(msg["batch"], msg["status"])

    def _died(
        self, worker: _Worker, pending: list[int], on_result: Callable[[int, str], None]
    ) -> None:
        code = worker.proc.returncode
        batch = worker.batch
        slot = worker.slot
        self._retire(worker)
        if batch is not None and worker.kill_reason is not None:
            # killed on purpose (time or memory limit): trying again would do the same
            kind, message = worker.kill_reason
            record_failure(
                self.layout,
                batch,
                {"error_type": kind, "case": None, "traceback": None, "message": message},
            )
            on_result(batch, FAILED)
        elif batch is not None:
            self.deaths[batch] = self.deaths.get(batch, 0) + 1
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            record_failure(
                self.layout,
                batch,
                {
                    "error_type": "WorkerDied",
                    "case": None,
                    "traceback": None,
                    "message": f"the worker process growing batch {batch} died ({how}).",
                },
            )
            if self.deaths[batch] < MAX_WORKER_DEATHS:
                pending.insert(0, batch)
            else:
                on_result(batch, FAILED)
        if pending or any(w.batch is not None for w in self.workers):
            self._start(slot)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers: EOF first, then SIGKILL (with their children) after a grace time."""
        procs = [w.proc for w in self.workers]
        for worker in list(self.workers):
            self._retire(worker)
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            if proc.poll() is None:
                _kill_tree(proc.pid)
                proc.wait()
        self.selector.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(timeout_s=0.0 if exc[0] is not None else 5.0)


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
