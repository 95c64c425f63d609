"""Atomic files, file locks and pickling: the only module that imports filelock and cloudpickle.

Every file xyzfarm publishes is written to a temporary name in the destination folder, flushed
to disk, then moved over the destination with :func:`os.replace`, which POSIX guarantees to be
atomic: a reader (or a crash, or ``kill -9``) sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

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
def atomic_path(path: PathLike, *, fsync: bool = True, mode: int = 0o666) -> Iterator[Path]:
    """Yield a temporary path to write; on success publish it at ``path`` atomically.

    The published file gets ``mode`` less the umask, as if created by ``open``.

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
        _match_umask(tmp, mode)
        os.replace(tmp, dest)
        if fsync:
            _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _match_umask(path: Path, mode: int) -> None:
    # mkstemp creates files 0600; published files should get the user's usual permissions
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~umask)


def write_bytes(path: PathLike, data: bytes, *, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` atomically (permissions ``mode`` less the umask)."""
    with atomic_path(path, mode=mode) as tmp, open(tmp, "wb") as f:
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
    with contextlib.suppress(OSError):
        if os.path.samefile(src, backup):
            # already the same file (a save failed after the last backup); renaming a link
            # over its twin is a no-op in POSIX, which would leave the temporary link behind
            return backup
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


#: errors that mean "this filesystem has no working flock/fcntl locks" (some NFS, Lustre
#: mounted without -o flock, FUSE filesystems), as opposed to "someone else holds the lock"
NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP}
#: a soft lock whose holder cannot be checked (another host) is stale after this long
SOFT_LOCK_STALE_S = 3600.0


def _file_lock(path: str) -> filelock.BaseFileLock:
    try:
        # we handle a filesystem without flock ourselves (soft lock with stale detection)
        return filelock.FileLock(path, is_singleton=True, fallback_to_soft=False)
    except TypeError:  # filelock < 4: no such option, and no fallback either
        return filelock.FileLock(path, is_singleton=True)


@contextlib.contextmanager
def locked(path: PathLike, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` (re-entrant within a process).

    The lock is an flock on ``path + '.lock'``. Where the filesystem has none (the call fails
    with ENOLCK, ENOSYS or EOPNOTSUPP), a :class:`SoftLock` on ``path + '.softlock'`` is
    used instead: a file created exclusively, naming its holder's host, pid and time.

    Parameters
    ----------
    path : path-like
        The file being guarded.
    timeout_s : float, optional
        Give up after this many seconds with :class:`LockTimeoutError`; wait forever if None.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    # a singleton per path makes nested use in one process re-entrant instead of deadlocking
    lock = _file_lock(str(lp))
    try:
        lock.acquire(timeout=-1 if timeout_s is None else timeout_s)
    except filelock.Timeout:
        raise LockTimeoutError(
            f"could not lock {os.fspath(path)!r} within {timeout_s} s: another process holds "
            f"{os.fspath(lp)!r}; wait for it to finish, or raise the timeout."
        ) from None
    except OSError as exc:
        if exc.errno not in NO_LOCKS:
            raise
        with SoftLock(Path(os.fspath(path) + ".softlock")).held(timeout_s):
            yield
        return
    try:
        yield
    finally:
        lock.release()


class SoftLock:
    """A lock for filesystems without working kernel locks: an exclusively created file.

    The file holds its holder's host, pid and start time. A waiter removes it as *stale* when
    the holder is on this host and its pid is gone, or when it is older than
    :data:`SOFT_LOCK_STALE_S` (a holder on another host cannot be checked). Removal renames
    the file first, so two waiters cannot both break the same lock. Re-entrant per process.
    """

    _depth: ClassVar[dict[str, int]] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.token = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

    def holder(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict[str, Any]) -> bool:
        age = time.time() - float(holder.get("time", 0))
        if holder.get("host") == socket.gethostname():
            try:
                os.kill(int(holder.get("pid", 0)), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError):
                pass
        return age > SOFT_LOCK_STALE_S

    def _try(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "time": time.time(),
                    "token": self.token,
                },
                f,
            )
        return True

    @contextlib.contextmanager
    def held(self, timeout_s: float | None = None) -> Iterator[None]:
        key = str(self.path)
        if self._depth.get(key, 0) and (self.holder() or {}).get("token") == self.token:
            self._depth[key] += 1
            try:
                yield
            finally:
                self._depth[key] -= 1
            return
        start = time.monotonic()
        while not self._try():
            holder = self.holder()
            if holder is not None and self._stale(holder):
                with contextlib.suppress(OSError):
                    doomed = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}")
                    os.rename(self.path, doomed)
                    doomed.unlink()
                continue
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise LockTimeoutError(
                    f"could not take the soft lock {str(self.path)!r} within {timeout_s} s: "
                    f"held by {holder}; if that process is gone, delete the file."
                )
            time.sleep(0.05)
        self._depth[key] = 1
        try:
            yield
        finally:
            self._depth[key] = 0
            if (self.holder() or {}).get("token") == self.token:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()


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
        self.path = os.fspath(path)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
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
