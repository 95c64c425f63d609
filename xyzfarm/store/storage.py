"""Atomic files, file locks and pickling: the only module that takes file locks or pickles.

Every file xyzfarm publishes is written to a temporary name in the destination folder, flushed
to disk, then moved over the destination with :func:`os.replace`, which POSIX guarantees to be
atomic: a reader (or a crash, or ``kill -9``) sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import os
import pickle
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

import cloudpickle

from ..errors import DataFileWriteError, LocationError, LockTimeoutError
from . import temps
from .moved import loads_moved

PathLike = str | os.PathLike[str]

#: suffixes of the companion files kept beside a data file
LOCK_SUFFIX = ".lock"
BACKUP_SUFFIX = ".bak"


def fsync_dir(folder: Path) -> None:
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
def atomic_path(
    path: PathLike, *, fsync: bool = True, sync_dir: bool = True, mode: int = 0o666
) -> Iterator[Path]:
    """Yield a temporary path to write; on success publish it at ``path`` atomically.

    The published file gets ``mode`` less the umask, as if created by ``open``. With
    ``fsync`` its content is on disk before it is renamed into place and, with ``sync_dir``
    too, the rename itself right after. ``sync_dir=False`` leaves the rename to a later
    file published in the same folder with ``sync_dir``: one directory fsync makes every
    earlier rename in it durable too (journalled filesystems commit a folder's renames in
    order), so a set of files published before their manifest costs one directory fsync.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # the writer's host and pid in the name: a later save can tell the temporary file of a
    # killed writer (removed by temps.remove_stale) from one being written right now
    fd, tmp_name = tempfile.mkstemp(prefix=temps.prefix(dest), suffix=temps.SUFFIX, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            _fsync_path(tmp)
        _match_umask(tmp, mode)
        os.replace(tmp, dest)
        if fsync and sync_dir:
            fsync_dir(dest.parent)
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


def write_bytes(path: PathLike, data: bytes, *, mode: int = 0o666, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (permissions ``mode`` less the umask;
    ``sync_dir``: see :func:`atomic_path`)."""
    with atomic_path(path, mode=mode, sync_dir=sync_dir) as tmp, open(tmp, "wb") as f:
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
    with contextlib.suppress(FileNotFoundError):
        kind = os.lstat(backup).st_mode
        if not (stat.S_ISREG(kind) or stat.S_ISLNK(kind)):  # a link is replaced, never followed
            raise DataFileWriteError(
                f"{os.fspath(backup)!r}, where the previous version of {os.fspath(src)!r} is "
                "kept, is not a file (a folder?): nothing was saved and the data file is "
                "unchanged. Move it away (mv it elsewhere) and save again."
            )
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
    """The lock file guarding ``path`` (it exists only while the lock is held)."""
    p = Path(path)
    return p.with_name(p.name + LOCK_SUFFIX)


#: errors that mean "this filesystem has no working flock/fcntl locks" (some NFS, Lustre
#: mounted without -o flock, FUSE filesystems), as opposed to "someone else holds the lock"
NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP}
#: errors of a non-blocking flock that mean "another open file holds it"
_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES}
#: a soft lock whose holder cannot be checked (another host) is stale after this long
SOFT_LOCK_STALE_S = 3600.0
#: longest sleep between two tries of a lock taken with a timeout
_POLL_MAX_S = 0.05


class _PathLock:
    """This process's hold on one lock path: the thread guard, depth and the locked file."""

    def __init__(self) -> None:
        # an RLock makes nested use re-entrant in one thread and makes threads take turns
        self.guard = threading.RLock()
        self.depth = 0
        self.fd: int | None = None
        self.soft = contextlib.ExitStack()


_path_locks: dict[tuple[int, str], _PathLock] = {}
_path_locks_guard = threading.Lock()


def _path_lock(lp: Path) -> _PathLock:
    # keyed by pid too: a forked child inherits the table but holds none of the parent's locks
    key = (os.getpid(), os.path.abspath(lp))
    with _path_locks_guard:
        if key not in _path_locks:
            _path_locks[key] = _PathLock()
        return _path_locks[key]


def _open_lock_file(lp: Path) -> tuple[int, bool]:
    """A descriptor of the lock file at ``lp`` (created if missing), and whether we made it."""
    flags = os.O_CLOEXEC
    while True:
        try:
            return os.open(lp, flags | os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
                raise
            raise LocationError(
                f"could not create the lock file {os.fspath(lp)!r}: {exc.strerror}. Free some "
                "space or inodes, or work in a folder you can write in, and try again."
            ) from exc
        # never through a link (O_NOFOLLOW): a planted one would lock a file elsewhere
        flags |= os.O_NOFOLLOW
        try:
            # NFS emulates flock with fcntl locks, whose exclusive kind needs a writable file;
            # read-only still works elsewhere (a lock file left by another user)
            try:
                return os.open(lp, flags | os.O_RDWR), False
            except PermissionError:
                return os.open(lp, flags | os.O_RDONLY), False
        except FileNotFoundError:
            continue  # its holder unlinked it between our two opens: create it
        except OSError as exc:
            if exc.errno not in (errno.EISDIR, errno.ELOOP, errno.ENXIO, errno.ENOTDIR):
                raise
            what = "a folder" if exc.errno == errno.EISDIR else "a link or a special file"
            raise LocationError(
                f"{os.fspath(lp)!r}, where xyzfarm keeps a lock file, is {what}: nothing can "
                "hold it (a lock file is a regular file, there only while held). Remove it "
                f"(rm -r {os.fspath(lp)!r}) and try again."
            ) from None


def _flock(fd: int, deadline: float | None) -> bool:
    """Take the flock of ``fd``; False if ``deadline`` (monotonic) passed first."""
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in _BUSY:
                raise
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(2 * pause, _POLL_MAX_S)


def _names(lp: Path, fd: int) -> bool:
    """Whether the path ``lp`` still names the file open as ``fd``."""
    try:
        st = os.stat(lp)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _acquire_flock(lp: Path, deadline: float | None) -> int | None:
    """Lock the file at ``lp``; its descriptor, or None where the filesystem has no flock.

    Raises TimeoutError when ``deadline`` passes first.
    """
    while True:
        fd, created = _open_lock_file(lp)
        try:
            got = _flock(fd, deadline)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in NO_LOCKS:
                raise
            if created:
                with contextlib.suppress(OSError):
                    lp.unlink()
            return None
        except BaseException:
            os.close(fd)
            raise
        if not got:
            os.close(fd)
            raise TimeoutError
        if _names(lp, fd):
            return fd
        # we waited on a file its holder unlinked on release: lock the one at the path now
        os.close(fd)


def _release_flock(lp: Path, fd: int) -> None:
    try:
        # unlinked while still locked, so nobody can lock this file and believe it current;
        # only if the path is still ours (it always is, unless someone broke the protocol)
        if _names(lp, fd):
            with contextlib.suppress(OSError):
                lp.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _timeout_error(path: PathLike, lp: Path, timeout_s: float | None) -> LockTimeoutError:
    return LockTimeoutError(
        f"could not lock {os.fspath(path)!r} within {timeout_s} s: another process (or "
        f"thread) holds {os.fspath(lp)!r}; wait for it to finish, or raise the timeout."
    )


@contextlib.contextmanager
def locked(path: PathLike, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` (re-entrant within a thread).

    The lock is an flock on ``path + '.lock'``, a file that exists only while the lock is
    held, so nothing is left beside the user's data. Removing a locked file safely takes
    this protocol (*unlink on release*):

    - the holder unlinks the lock file while it still holds the flock, then releases it;
    - a waiter, once its flock is granted, checks that the path still names the file it
      locked (``stat`` of the path against ``fstat`` of its descriptor: device and inode);
      if not, it locked a file its holder has just unlinked, and starts again on the file
      now at the path. The inode cannot be reused meanwhile: the waiter keeps it open.

    Only a holder may unlink the lock file, and only its own: nothing else may remove it.
    Threads of one process take turns; nested use in one thread is re-entrant.

    Where the filesystem has no flock (the call fails with ENOLCK, ENOSYS or EOPNOTSUPP), a
    :class:`SoftLock` on ``path + '.softlock'`` is used instead: a file created exclusively,
    naming its holder's host, pid and time, removed on release.

    Parameters
    ----------
    path : path-like
        The file being guarded.
    timeout_s : float, optional
        Give up after this many seconds with :class:`LockTimeoutError`; wait forever if None.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    state = _path_lock(lp)
    if not state.guard.acquire(timeout=-1 if timeout_s is None else max(timeout_s, 0.0)):
        raise _timeout_error(path, lp, timeout_s)
    try:
        if state.depth == 0:
            try:
                state.fd = _acquire_flock(lp, deadline)
            except TimeoutError:
                raise _timeout_error(path, lp, timeout_s) from None
            if state.fd is None:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                soft = SoftLock(Path(os.fspath(path) + ".softlock"))
                state.soft.enter_context(soft.held(left))
        state.depth += 1
        try:
            yield
        finally:
            state.depth -= 1
            if state.depth == 0:
                fd, state.fd = state.fd, None
                try:
                    if fd is not None:
                        _release_flock(lp, fd)
                finally:
                    state.soft.close()
    finally:
        state.guard.release()


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


def dumps(obj: Any, *, plain: bool = False) -> bytes:
    """Pickle ``obj`` with cloudpickle (functions defined in ``__main__`` included).

    ``plain``: ``obj`` holds only what :func:`is_plain` accepts, which the standard pickler
    writes as cloudpickle would, at half the cost (cloudpickle's Python set-up and its look
    up of every class, ``range`` included, cost ~5-10 us a record: per batch sown and grown).
    """
    if plain:
        with contextlib.suppress(pickle.PicklingError, TypeError, AttributeError):
            return pickle.dumps(obj, protocol=5)
    return cast("bytes", cloudpickle.dumps(obj))


#: most values per record worth checking with :func:`is_plain` (~15 ns a value) to save
#: cloudpickle's extra cost (~5 us a record)
PLAIN_CHECK_MAX = 256

#: types whose pickle names no module but builtins
_ATOMS = frozenset({int, float, complex, bool, str, bytes, type(None), range})


def is_plain(values: Any, depth: int = 4) -> bool:
    """Whether the items of ``values`` (a sequence) pickle the same with the standard
    pickler as with cloudpickle: builtin numbers and text, numpy values that hold no
    objects, and tuples or lists of those nested up to ``depth`` levels; never functions,
    classes or their instances, which cloudpickle may carry by value (defined in
    ``__main__`` or a shipped module). Deeper nesting (or a list holding itself) is not
    plain: cloudpickle takes it."""
    kinds = set(map(type, values))
    if kinds <= _ATOMS:
        return True  # the usual case, decided in C
    for kind in kinds - _ATOMS:
        of_kind: Any = values if len(kinds) == 1 else [v for v in values if type(v) is kind]
        if kind in (tuple, list):
            inner = list(itertools.chain.from_iterable(of_kind))
            if depth <= 1 or not is_plain(inner, depth - 1):
                return False
        elif kind.__module__ != "numpy" or any(v.dtype.hasobject for v in of_kind):
            return False
    return True


def loads(data: bytes) -> Any:
    """Unpickle bytes made by :func:`dumps` (only ever call this on trusted data).

    Bytes that an xyzfarm from before its modules moved wrote (a crop sown before the upgrade)
    load too: a failed import is retried with the old module paths sent to the new ones.
    """
    try:
        return cloudpickle.loads(data)
    except (ImportError, AttributeError) as error:
        try:
            return loads_moved(data)
        except Exception:
            raise error from None
