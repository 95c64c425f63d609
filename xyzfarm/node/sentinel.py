"""The pool's sentinel: kills every worker's process group when the pool's process dies.

A pool worker owns a process group, so that the processes a case starts die with it. The
kernel's die-with-parent signal reaches the workers when the grower is killed (even by
``kill -9``), but not their children. This tiny process, started by the pool in a session of
its own, reads ``+<pgid>`` and ``-<pgid>`` lines on stdin as workers start and are retired. On
end of file (the pool closed the pipe, or its process died and the kernel closed it) it sends
SIGKILL to every group still listed, then exits. A pool that closes in order retires every
worker first, so its sentinel kills nothing.

Run by path with ``python -I -S``: standard library only, so it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def main() -> int:
    # a Ctrl-C or a hang-up meant for the grower must not take its safety net with it
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        line = line.strip()
        if len(line) < 2 or line[:1] not in (b"+", b"-") or not line[1:].isdigit():
            continue
        pgid = int(line[1:])
        if pgid <= 1:
            continue  # never group 0 (our own) or 1
        if line[:1] == b"+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
