"""Batch claims: exclusive POSIX record locks on single bytes of one file (a crop's
``running.lock``), released by the kernel when their holder dies.

LEAN: standard library only; the worker imports it on every compute node.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import threading
from pathlib import Path

from .storage import NO_LOCKS, PathLike

#: Linux's struct flock: l_type, l_whence, l_start, l_len, l_pid (native alignment, padded)
_FLOCK = struct.Struct("@hhqqi4x")


class RecordLocks:
    """Exclusive POSIX record locks on single bytes of one file: a lock per batch, one file.

    Claiming a batch this way creates no file per batch (file creation costs ~0.2 ms on some
    disks, more on network filesystems), works over NFS where ``flock`` may not, and like
    every kernel lock is dropped when its holder dies. POSIX locks belong to the process and
    vanish when *any* descriptor of the file is closed, so there is one instance per path
    per process (:func:`record_locks`), and this process's own claims are remembered.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        with contextlib.suppress(OSError):  # a folder we cannot make: the open below says
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_NOFOLLOW | os.O_CLOEXEC  # never through a link: it would lock elsewhere
        try:
            self.fd = os.open(path, flags | os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            # a crop this user may only read (a colleague's, a read-only mount): asking who
            # holds a record (F_GETLK) needs no write access; claiming one is refused by the
            # growers' own check before they get here. No file: nobody can be holding one
            try:
                self.fd = os.open(path, flags | os.O_RDONLY)
            except FileNotFoundError:
                self.fd = -1
        self.held: set[int] = set()
        self.unsupported = False
        self._guard = threading.Lock()

    def try_lock(self, i: int) -> bool:
        """Claim record ``i``; False if another process holds it (or this one already does)."""
        with self._guard:
            if i in self.held:
                return False
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, i)
            except OSError as exc:
                if exc.errno not in NO_LOCKS:
                    return False  # held by another process
                if not self.unsupported:
                    import warnings

                    warnings.warn(
                        f"{self.path}: this filesystem has no record locks; batches are not "
                        "protected against two growers at once (results stay correct: a "
                        "batch grown twice is reaped once).",
                        stacklevel=3,
                    )
                self.unsupported = True
            self.held.add(i)
            return True

    def unlock(self, i: int) -> None:
        with self._guard:
            if i in self.held:
                if not self.unsupported:
                    fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, i)
                self.held.discard(i)

    def locked_in(self, start: int, stop: int) -> set[int]:
        """Records in ``[start, stop)`` held by any process, asking the kernel once per lock."""
        found = {i for i in self.held if start <= i < stop}
        if self.fd < 0:
            return found
        pos = start
        while pos < stop:
            query = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, pos, stop - pos, 0)
            try:
                answer = fcntl.fcntl(self.fd, fcntl.F_GETLK, query)
            except OSError:  # pragma: no cover - a platform with another struct flock
                return found | {i for i in range(pos, stop) if self.is_locked(i)}
            kind, _, lock_start, lock_len, _ = _FLOCK.unpack(answer)
            if kind == fcntl.F_UNLCK:
                break
            end = stop if lock_len == 0 else min(stop, lock_start + lock_len)
            found.update(range(max(pos, lock_start), end))
            pos = max(pos + 1, end)
        return found

    def is_locked(self, i: int) -> bool:
        """Whether some process (this one included) holds record ``i``."""
        if i in self.held:
            return True
        if not self.try_lock(i):
            return True
        self.unlock(i)
        return False


_record_locks: dict[tuple[int, str], RecordLocks] = {}


def record_locks(path: PathLike) -> RecordLocks:
    """The process-wide :class:`RecordLocks` of ``path``."""
    # keyed by pid too: a forked child inherits the object but not the parent's locks
    key = (os.getpid(), os.path.abspath(path))
    if key not in _record_locks:
        _record_locks[key] = RecordLocks(key[1])
    return _record_locks[key]
