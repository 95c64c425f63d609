"""Process hygiene shared by every local grow path: worker process groups and their sentinel.

A worker owns a process group, so whatever a case starts dies with it; the kernel's
die-with-parent signal reaches a worker when its grower dies (even by ``kill -9``), and a
sentinel process (:mod:`xyzfarm.node.sentinel`) kills every watched group when the grower's
end of its pipe closes: when the grower dies, or when it closes the pipe in order after its
workers were done (then it kills what cases left behind in their groups).

Used by the pinned pool (:class:`~xyzfarm.node.pool.WorkerPool`) and by growing through the
process pool ``grow(num_workers=n)`` makes (see :func:`executor_worker_started`).

LEAN: standard library only; the worker imports it on every compute node.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

#: exit status of a worker whose parent died before it could ask to die with it
ORPHANED_EXIT = 3


class Sentinel:
    """A grower's end of :mod:`xyzfarm.node.sentinel`: which process groups to kill if this
    process dies, or once it closes the sentinel. Best effort: if it cannot start or has
    died, growing goes on."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        with contextlib.suppress(OSError):
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__).with_name("sentinel.py"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # its own session: a signal sent to the grower's group does not reach it
                start_new_session=True,
            )

    @property
    def fd(self) -> int:
        """The pipe's write end (-1 if there is no sentinel): a forked worker may announce
        its own group on it (see :func:`executor_worker_started`)."""
        if self.proc is None or self.proc.stdin is None:
            return -1
        return self.proc.stdin.fileno()

    def _say(self, line: str) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()

    def watch(self, pgid: int) -> None:
        self._say(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._say(f"-{pgid}\n")

    def close(self) -> None:
        """Close the pipe: the sentinel kills every group still watched, then exits."""
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)


def die_with_parent(parent_pid: int | None) -> None:
    """Ask the kernel (Linux) to SIGKILL this process when the one that started it dies, so
    a killed grower never leaves orphans growing batches behind its back; exit at once if
    ``parent_pid`` died before the request was made (then nobody would kill us)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a worker's process group (nothing if it is gone)."""
    # a worker leads its own group; the kernel never reuses a pid while a group of that id
    # has members, so this reaches only what the worker and its cases started (unless a
    # case left the group on purpose)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def executor_worker_started(sentinel_fd: int, parent_pid: int) -> None:
    """The initializer of the process pool that ``grow(num_workers=n)`` makes.

    The worker leads a session (and group) of its own, dies with its parent, and announces
    its group on the sentinel's pipe (inherited when forked; a write of a few bytes to a pipe
    is atomic), then closes its copy of that pipe, so the sentinel still sees the end of file
    when the grower's end closes.
    """
    with contextlib.suppress(OSError):
        os.setsid()
    die_with_parent(parent_pid)
    if sentinel_fd >= 0:
        with contextlib.suppress(OSError):
            os.write(sentinel_fd, f"+{os.getpid()}\n".encode())
            os.close(sentinel_fd)
