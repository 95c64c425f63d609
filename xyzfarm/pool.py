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


def _parse_ids(value: Any, what: str) -> list[str]:
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a count, a list of ids or 'a,b,c', got {value!r}.")
    if isinstance(value, int):
        if value < 1:
            raise InvalidInputError(f"{what}={value} must be at least 1.")
        return [str(i) for i in range(value)]
    if isinstance(value, str):
        ids = [v.strip() for v in value.split(",") if v.strip()]
    else:
        ids = [str(v) for v in value]
    if not ids:
        raise InvalidInputError(f"{what}={value!r} names no ids.")
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
    only the cores granted are handed out.
    """
    available = sorted(os.sched_getaffinity(0))
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise InvalidInputError(f"num_threads must be a positive integer, got {num_threads!r}.")
    if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 1):
        raise InvalidInputError(f"num_workers must be a positive integer, got {num_workers!r}.")
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
    gpu_ids = None if gpus is None else _parse_ids(gpus, "gpus")
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
    return [
        Slot(
            cpus=None if groups is None else groups[i],
            gpus=None if gpu_ids is None else [gpu_ids[i]],
            threads=num_threads,
        )
        for i in range(count)
    ]


@dataclass
class _Worker:
    slot: Slot
    proc: subprocess.Popen[bytes]
    reply: IO[str]
    ready: bool = False
    batch: int | None = None
    buffer: str = field(default="")


def _child_pythonpath() -> str:
    # the workers must import what this process imports (the user's modules included)
    here = str(Path(__file__).resolve().parent.parent)
    entries = [here, *[p for p in sys.path if p]]
    return os.pathsep.join(dict.fromkeys(entries))


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

    def __init__(self, layout: CropLayout, slots: Sequence[Slot], *, log: bool = False) -> None:
        self.layout = layout
        self.slots = list(slots)
        self.log = log
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
        env["PYTHONPATH"] = _child_pythonpath()
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
                    assert worker.proc.stdin is not None
                    try:
                        worker.proc.stdin.write(f"{worker.batch}\n".encode())
                        worker.proc.stdin.flush()
                    except BrokenPipeError:
                        pass  # it died: noticed below
            for key, _ in self.selector.select(timeout=0.05):
                self._read(key.data, on_result)
            for worker in list(self.workers):
                if worker.proc.poll() is not None:
                    self._read(worker, on_result)  # answers sent just before exiting
                    self._died(worker, pending, on_result)

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
        if batch is not None:
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


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
