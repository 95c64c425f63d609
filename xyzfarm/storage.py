"""Atomic files, file locks and pickling: the only module that imports filelock and cloudpickle.

Every file xyzfarm publishes is written to a temporary name in the destination folder, flushed
to disk, then moved over the destination with :func:`os.replace`, which POSIX guarantees to be
atomic: a reader (or a crash, or ``kill -9``) sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import filelock

from .errors import LockTimeoutError

PathLike = str | os.PathLike[str]

#: suffixes of the companion files kept beside a data file
LOCK_SUFFIX = ".lock"
BACKUP_SUFFIX = ".bak"


def _fsync_dir(folder: Path) -> None:
    # the rename itself lives in the directory entry; without this a power cut may undo it
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_path(path: Path) -> None:
    if path.is_dir():
        return
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success publish it at ``path`` atomically.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            _fsync_path(tmp)
        _match_umask(tmp)
        os.replace(tmp, dest)
        if fsync:
            _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _match_umask(path: Path) -> None:
    # mkstemp creates files 0600; published files should get the user's usual permissions
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~umask)


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def keep_backup(path: PathLike) -> Path | None:
    """Make ``path + '.bak'`` hold the current content of ``path``; return it (None if no file).

    A hard link costs nothing whatever the file's size; where links are not supported the
    file is copied. The backup itself is published atomically.
    """
    src = Path(path)
    if not src.is_file():
        return None
    backup = src.with_name(src.name + BACKUP_SUFFIX)
    with atomic_path(backup, fsync=False) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
    return backup


def lock_path(path: PathLike) -> Path:
    """The lock file guarding ``path``."""
    p = Path(path)
    return p.with_name(p.name + LOCK_SUFFIX)


@contextlib.contextmanager
def locked(path: PathLike, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` (re-entrant within a process).

    Parameters
    ----------
    path : path-like
        The file being guarded; the lock lives at ``path + '.lock'``.
    timeout_s : float, optional
        Give up after this many seconds with :class:`LockTimeoutError`; wait forever if None.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    # a singleton per path makes nested use in one process re-entrant instead of deadlocking
    lock = filelock.FileLock(str(lp), is_singleton=True)
    try:
        lock.acquire(timeout=-1 if timeout_s is None else timeout_s)
    except filelock.Timeout:
        raise LockTimeoutError(
            f"could not lock {os.fspath(path)!r} within {timeout_s} s: another process holds "
            f"{os.fspath(lp)!r}; wait for it to finish, or raise the timeout."
        ) from None
    try:
        yield
    finally:
        lock.release()


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
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        self.held: set[int] = set()
        self._guard = threading.Lock()

    def try_lock(self, i: int) -> bool:
        """Claim record ``i``; False if another process holds it (or this one already does)."""
        with self._guard:
            if i in self.held:
                return False
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, i)
            except OSError:
                return False
            self.held.add(i)
            return True

    def unlock(self, i: int) -> None:
        with self._guard:
            if i in self.held:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, i)
                self.held.discard(i)

    def locked_in(self, start: int, stop: int) -> set[int]:
        """Records in ``[start, stop)`` held by any process, asking the kernel once per lock."""
        found = {i for i in self.held if start <= i < stop}
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


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` with cloudpickle (functions defined in ``__main__`` included)."""
    return cloudpickle.dumps(obj)


def loads(data: bytes) -> Any:
    """Unpickle bytes made by :func:`dumps` (only ever call this on trusted data)."""
    return cloudpickle.loads(data)
