"""A pool of persistent, pinned worker processes growing batches (the only user of psutil).

Each worker is ``python -m xyzfarm.worker serve`` started once and fed batch ids, so the cost
of an interpreter start and of loading the function is paid per worker, not per batch (xyzpy
starts a process per batch, ~0.9 s each). Every worker gets its own disjoint set of cores
(``sched_setaffinity``), its own GPU(s) (``CUDA_VISIBLE_DEVICES``) and thread-count variables
set in its environment before Python starts, so numerical libraries read them on import.

A worker that dies is replaced; its batch is retried once, then reported as failed. Workers
that die without a batch are replaced at most :data:`MAX_START_FAILURES` times per pool;
every worker owns its process group (see :class:`WorkerPool`).

Which cores, GPUs and threads each worker gets is planned in :mod:`xyzfarm.node.slots` (its
names are importable from here too).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import psutil

from ..errors import (
    CropLoadError,
    CropReplacedError,
    FunctionLoadError,
    ResultWriteError,
    WorkerStartError,
)
from ..folder.failures import START_FAILURES, write_failure
from ..folder.layout import CropLayout
from ..folder.outcomes import FAILED
from ..folder.throttle import LiveLimit
from ..sweep.progress import write_beside_bars
from .groups import Sentinel, kill_group
from .slots import THREAD_VARS as THREAD_VARS
from .slots import Slot, child_pythonpath
from .slots import parse_gpu_ids as parse_gpu_ids
from .slots import plan_slots as plan_slots

#: how often a batch may lose its worker before it is reported failed
MAX_WORKER_DEATHS = 2
#: how often a pool's workers may die without a batch (before ready, or idle) before it stops
MAX_START_FAILURES = 3
#: how long workers told to stop (SIGTERM) get to checkpoint before SIGKILL
TERM_GRACE_S = 2.0
#: how much of a worker's stderr is kept to say why it died
STDERR_TAIL_BYTES = 4096
STDERR_TAIL_LINES = 15
#: the environment variable that tells a worker which process must outlive it
PARENT_PID_VAR = "XYZFARM_POOL_PID"


@dataclass
class _Worker:
    slot: Slot
    proc: subprocess.Popen[bytes]
    reply: IO[str]
    stderr: IO[bytes]
    ready: bool = False
    batch: int | None = None
    buffer: str = field(default="")
    started: float = 0.0
    kill_reason: tuple[str, str] | None = None
    #: the worker's own account of why it cannot start (its pre-flight failed)
    start_error: dict[str, Any] | None = None
    #: the last of its stderr, kept to say why it died
    err_tail: bytes = b""


class WorkerPool:
    """Persistent pinned workers growing the batches of one crop.

    Every worker owns a process group, so whatever a case starts dies with its worker: when
    it is killed for time or memory, retired, or dies on its own, and (through a sentinel
    process, :mod:`xyzfarm.node.sentinel`) when the process running the pool is killed, even by
    ``kill -9``. A worker's stderr is passed on to this process's stderr, and its last
    :data:`STDERR_TAIL_BYTES` kept to say why it died.

    Restarts are bounded: a worker that dies before it is ready (or while idle) counts
    against :data:`MAX_START_FAILURES` per pool, and a worker whose pre-flight fails (the
    function or the crop's inputs cannot be loaded) stops the pool at once. Either way the
    batches left are recorded as failed with the reason, and the matching typed error is
    raised.

    Parameters
    ----------
    layout : CropLayout
        The crop (its function must be saved in the folder).
    slots : sequence of Slot
        One worker per slot.
    log : bool
        Write each batch's stdout/stderr to ``logs/batch-<i>.log``.
    sowing : bytes, optional
        The crop's sowing id (see :mod:`xyzfarm.folder.records`), recorded with failures.

    Raises
    ------
    CropReplacedError
        From :meth:`run`, when a worker finds the crop deleted or sown again.
    """

    def __init__(
        self,
        layout: CropLayout,
        slots: Sequence[Slot],
        *,
        log: bool = False,
        batch_timeout_s: float | None = None,
        max_mem_gb: float | None = None,
        max_running: LiveLimit | None = None,
        sowing: bytes | None = None,
    ) -> None:
        self.layout = layout
        #: the crop's sowing id, recorded with every failure written here
        self.sowing = sowing
        #: the crop's throttle, read live: busy workers beyond it take no new batch
        self.max_running = max_running
        self.slots = list(slots)
        self.log = log
        self.batch_timeout_s = batch_timeout_s
        self.max_mem_gb = max_mem_gb
        self._checked_mem = 0.0
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        self.deaths: dict[int, int] = {}
        #: workers that died without a batch (before they were ready, or idle)
        self.start_failures = 0
        self._sentinel: Sentinel | None = None

    def _start(self, slot: Slot) -> _Worker:
        if self._sentinel is None:
            self._sentinel = Sentinel()
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
        env[PARENT_PID_VAR] = str(os.getpid())
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                env=env,
                start_new_session=True,  # its own process group: see the class docstring
            )
        finally:
            os.close(write_fd)
        self._sentinel.watch(proc.pid)
        reply = os.fdopen(read_fd, "r")
        os.set_blocking(read_fd, False)
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        worker = _Worker(slot, proc, reply, proc.stderr)
        self.selector.register(reply, selectors.EVENT_READ, (worker, "reply"))
        self.selector.register(proc.stderr, selectors.EVENT_READ, (worker, "stderr"))
        self.workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        for stream in (worker.reply, worker.stderr):
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(stream)
        worker.reply.close()
        if worker.proc.stdin:
            with contextlib.suppress(OSError):
                worker.proc.stdin.close()
        self.workers.remove(worker)

    def _bury(self, worker: _Worker) -> None:
        """After its exit: kill what its cases left in its group, then stop watching it."""
        kill_group(worker.proc.pid)
        worker.stderr.close()
        if self._sentinel is not None:
            self._sentinel.forget(worker.proc.pid)

    def run(self, batches: Sequence[int], on_result: Callable[[int, str], None]) -> None:
        """Grow ``batches``; call ``on_result(batch, status)`` as each one ends.

        Raises
        ------
        FunctionLoadError, CropLoadError
            If a worker cannot load the function or the crop's inputs.
        WorkerStartError
            If workers died without a batch more than :data:`MAX_START_FAILURES` times.
        """
        pending = list(batches)
        for slot in self.slots[: max(1, len(pending))]:
            self._start(slot)
        while pending or any(w.batch is not None for w in self.workers):
            busy = sum(w.batch is not None for w in self.workers)
            for worker in list(self.workers):
                if worker.ready and worker.batch is None and pending and self._may_start(busy):
                    busy += 1
                    worker.batch = pending.pop(0)
                    worker.started = time.monotonic()
                    assert worker.proc.stdin is not None
                    try:
                        worker.proc.stdin.write(f"{worker.batch}\n".encode())
                        worker.proc.stdin.flush()
                    except BrokenPipeError:
                        pass  # it died: noticed below
            for key, _ in self.selector.select(timeout=0.05):
                worker, stream = key.data
                if stream == "reply":
                    self._read(worker, on_result)
                else:
                    self._pass_on_stderr(worker)
            self._enforce_limits()
            for worker in list(self.workers):
                if worker.proc.poll() is not None:
                    self._read(worker, on_result)  # answers sent just before exiting
                    self._pass_on_stderr(worker)
                    self._died(worker, pending, on_result)

    def _may_start(self, busy: int) -> bool:
        return self.max_running is None or self.max_running.allows(busy)

    def _pass_on_stderr(self, worker: _Worker) -> None:
        # the user still sees what the worker says; the tail says why it died
        try:
            chunk = os.read(worker.stderr.fileno(), 65536)
        except (BlockingIOError, OSError, ValueError):
            return
        if not chunk:
            return
        worker.err_tail = (worker.err_tail + chunk)[-STDERR_TAIL_BYTES:]
        with contextlib.suppress(OSError, ValueError):
            write_beside_bars(chunk.decode(errors="replace"))

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
            elif "start_error" in msg:
                worker.start_error = msg["start_error"]
            elif "replaced" in msg:
                # the crop was deleted or sown again: no worker may grow for this pool now
                raise CropReplacedError(str(msg["replaced"]))
            elif msg.get("batch") == worker.batch:
                worker.batch = None
                if "unwritable" in msg:  # the crop folder cannot be written: nor by any worker
                    raise ResultWriteError(str(msg["unwritable"]))
                on_result(msg["batch"], msg["status"])

    def _died(
        self, worker: _Worker, pending: list[int], on_result: Callable[[int, str], None]
    ) -> None:
        code = worker.proc.returncode
        batch = worker.batch
        slot = worker.slot
        self._retire(worker)
        self._bury(worker)
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        if worker.start_error is not None:
            # its pre-flight failed: every worker would fail the same way
            self._give_up(pending, on_result, worker.start_error)
        elif batch is not None and worker.kill_reason is not None:
            # killed on purpose (time or memory limit): trying again would do the same
            kind, message = worker.kill_reason
            write_failure(self.layout, batch, error_type=kind, message=message, sowing=self.sowing)
            on_result(batch, FAILED)
        elif batch is not None:
            self.deaths[batch] = self.deaths.get(batch, 0) + 1
            again = self.deaths[batch] < MAX_WORKER_DEATHS
            write_failure(
                self.layout,
                batch,
                error_type="WorkerDied",
                final=not again,
                sowing=self.sowing,
                message=f"the worker process growing batch {batch} died ({how})."
                + _tail_text(worker.err_tail),
            )
            if again:
                pending.insert(0, batch)
            else:
                on_result(batch, FAILED)
        else:
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                state = "before it was ready" if not worker.ready else "while idle"
                message = (
                    f"{self.start_failures} pool worker(s) died without a batch (the last "
                    f"{state}, {how}); the pool stopped instead of starting more."
                    + _tail_text(worker.err_tail)
                    + " Fix what it says (run `python -m xyzfarm.worker grow "
                    f"{self.layout.root} 1` to see it in full), then grow again."
                )
                self._give_up(
                    pending,
                    on_result,
                    {"error_type": "WorkerStartError", "message": message, "traceback": None},
                )
        if pending or any(w.batch is not None for w in self.workers):
            self._start(slot)

    def _give_up(
        self,
        pending: list[int],
        on_result: Callable[[int, str], None],
        error: dict[str, Any],
    ) -> None:
        """Record ``error`` for every batch left (waiting or in flight), and raise it typed."""
        left = pending + [w.batch for w in self.workers if w.batch is not None]
        pending.clear()
        # a load failure would repeat anywhere (retries skip it); a crash at start may not
        start = error.get("error_type") in START_FAILURES
        for batch in left:
            write_failure(
                self.layout,
                batch,
                error_type=str(error.get("error_type")),
                message=str(error.get("message")),
                traceback=error.get("traceback"),
                start=start,
                sowing=self.sowing,
            )
        for batch in left:
            on_result(batch, FAILED)
        kind = {"FunctionLoadError": FunctionLoadError, "CropLoadError": CropLoadError}.get(
            str(error.get("error_type")), WorkerStartError
        )
        raise kind(f"{error.get('message')} (recorded for batch(es) {left})")

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers: EOF first; after ``timeout_s`` SIGTERM (each checkpoints), after
        :data:`TERM_GRACE_S` more SIGKILL; then kill what their cases left in their groups."""
        workers = list(self.workers)
        for worker in workers:
            self._retire(worker)
        for sig, wait_s in ((None, timeout_s), (signal.SIGTERM, TERM_GRACE_S), (None, 0.0)):
            alive = [w for w in workers if w.proc.poll() is None]
            if not alive:
                break
            if sig is not None:
                for worker in alive:
                    kill_group(worker.proc.pid, sig)
            self._drain(alive, wait_s)
        for worker in workers:
            if worker.proc.poll() is None:
                _kill_tree(worker.proc.pid)
                worker.proc.wait()
            self._pass_on_stderr(worker)
            self._bury(worker)
        if self._sentinel is not None:
            self._sentinel.close()
            self._sentinel = None
        self.selector.close()

    def _drain(self, workers: list[_Worker], wait_s: float) -> None:
        """Pass their stderr on while waiting up to ``wait_s`` for them to exit."""
        deadline = time.monotonic() + wait_s
        while any(w.proc.poll() is None for w in workers):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for worker in workers:
                self._pass_on_stderr(worker)
            time.sleep(min(0.02, left))

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(timeout_s=0.0 if exc[0] is not None else 5.0)


def _tail_text(tail: bytes) -> str:
    text = tail.decode(errors="replace").strip()
    if not text:
        return ""
    lines = text.splitlines()[-STDERR_TAIL_LINES:]
    return " Its stderr ended with:\n" + "\n".join(lines) + "\n"


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
    """SIGKILL a worker, its process group, and any descendant that left the group."""
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    kill_group(pid)
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
