"""What a batch used: wall time, and this process's CPU time and peak memory, sampled.

A batch result carries its ``usage`` (:func:`usage_since`), read back by the efficiency
report; reading the kernel's counters costs a system call, so trivial batches share one.

LEAN: standard library only; the worker imports it on every compute node.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from typing import Any

#: ru_maxrss is in kilobytes on Linux, in bytes on macOS
_MAXRSS_PER_MB = 1024 * 1024 if sys.platform == "darwin" else 1024
#: CPU and peak memory are read (one getrusage, ~1.5 us) at the end of every batch that ran
#: at least USAGE_MIN_WALL_S, and of shorter ones when the last reading is USAGE_SAMPLE_S old:
#: a trivial batch (~0.15 ms) would otherwise pay 1 % of its cost for it
USAGE_MIN_WALL_S = 0.001
USAGE_SAMPLE_S = 0.01
#: a batch starting this long after the last reading (a pause: a worker waiting for work,
#: other code in this process) takes a fresh one, so its CPU is its own
USAGE_PAUSE_S = 0.05
#: (monotonic seconds, CPU seconds) of this process's last usage reading, and its pid
_last_reading = [-math.inf, 0.0]
_pid = [os.getpid()]


def _forked() -> None:
    # a forked child (a process-pool executor) starts its own CPU count from zero
    _last_reading[0] = -math.inf
    _pid[0] = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _read_usage(now: float) -> resource.struct_rusage:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    _last_reading[0], _last_reading[1] = now, ru.ru_utime + ru.ru_stime
    return ru


def usage_start() -> float:
    """A batch starts: its ``time.monotonic()``, with a fresh CPU reading if the last one is
    older than USAGE_PAUSE_S (after a pause, or at the process's first batch)."""
    now = time.monotonic()
    if now - _last_reading[0] > USAGE_PAUSE_S:
        _read_usage(now)
    return now


def usage_since(wall_start: float) -> dict[str, Any]:
    """What this process used for the batch begun at ``wall_start`` (:func:`usage_start`):
    the ``usage`` of a batch result.

    ``wall_s`` is the batch's wall time. ``cpu_s`` is the user + system time of this process
    (all its threads, so in a thread pool the others' too; subprocesses are not counted)
    over the ``cpu_wall_s`` seconds since the previous reading: the batch itself, or, for a
    batch shorter than USAGE_MIN_WALL_S, the batches since the last one read (which carry no
    ``cpu_s``). ``peak_mb`` is this process's peak resident memory so far (``ru_maxrss``),
    not reset per batch: resetting it (writing 5 to ``/proc/self/clear_refs``) and reading it
    back (``VmHWM`` in ``/proc/self/status``) costs ~60 us, a third of a trivial batch, where
    one ``getrusage`` gives CPU and peak together; and a task's memory request must cover its
    processes' peaks anyway.
    """
    now = time.monotonic()
    wall = now - wall_start
    last_s, last_cpu_s = _last_reading
    if wall < USAGE_MIN_WALL_S and now - last_s < USAGE_SAMPLE_S:
        return {"wall_s": wall, "pid": _pid[0]}
    ru = _read_usage(now)
    return {
        "wall_s": wall,
        "cpu_s": _last_reading[1] - last_cpu_s,
        "cpu_wall_s": now - last_s,
        "peak_mb": ru.ru_maxrss / _MAXRSS_PER_MB,
        "pid": _pid[0],
    }
