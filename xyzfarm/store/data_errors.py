"""When reading or writing a data file fails: typed errors, and a process that lives on.

HDF5 does not survive failed writes well: a file whose closing could not flush is left
half-open, and the interpreter crashes (SIGSEGV) when HDF5 meets it again. The writers of
:mod:`xyzfarm.store.datafile` and :mod:`xyzfarm.store.inplace` go through
:class:`FailureAbsorbingFile` and :func:`typed_write_errors`, which turn any failure into a
:class:`~xyzfarm.errors.DataFileWriteError` naming the file and keep the process usable;
:func:`read_error` says why a file cannot be read (a failed checksum, a truncated file).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataFileError, DataFileWriteError
from . import storage

PathLike = str | os.PathLike[str]

#: what HDF5 says when a chunk's Fletcher-32 checksum does not match its bytes
_CHECKSUM_FAILED = "filter returned failure"


class FailureAbsorbingFile(io.RawIOBase):
    """The file HDF5 writes a new data file through, which never reports a failed write to it.

    HDF5 does not survive failing writes: a dataset or file whose closing could not flush is
    left half-closed, and HDF5 crashes the interpreter (SIGSEGV) when it meets it again, at
    the latest when it shuts down at exit. So the first failure (a full disk) is kept here,
    HDF5 is told every later write succeeded, and ``save_ds`` raises it once HDF5 has
    closed the file cleanly; the file is discarded. Later writes are kept in memory only if
    small (HDF5 may read back its metadata): the bulk of the data is dropped.
    """

    #: the most bytes of one write kept in memory after a failure (metadata, not bulk data)
    KEPT_WRITE_BYTES = 1 << 20

    def __init__(self, path: PathLike) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._pos = 0
        self._end = 0
        self.error: OSError | None = None
        self._kept: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._end}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = max(0, min(len(view), self._end - self._pos))
        data = os.pread(self._fd, size, self._pos).ljust(size, b"\0")
        view[:size] = data
        for start, kept in self._kept:  # in order: later writes win
            lo, hi = max(start, self._pos), min(start + len(kept), self._pos + size)
            if lo < hi:
                view[lo - self._pos : hi - self._pos] = kept[lo - start : hi - start]
        self._pos += size
        return size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self.error = exc
        if self.error is not None and len(view) <= self.KEPT_WRITE_BYTES:
            self._kept.append((self._pos, bytes(view)))
        self._pos += len(view)
        self._end = max(self._end, self._pos)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.error = exc
        self._end = size
        return size

    def flush(self) -> None:
        pass  # every write went straight to the operating system

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _disarm_broken_h5netcdf_files(path: Path) -> None:
    # When HDF5 fails to flush while closing a file (disk full), h5py has already closed the
    # file's objects but not the file, and h5netcdf still thinks it open: its __del__ would
    # then call into HDF5 with those dead objects and crash the interpreter (SIGSEGV). The
    # write has failed and the file is discarded, so mark it closed: nothing touches it again.
    import h5netcdf

    target = os.path.abspath(path)
    for obj in gc.get_objects():
        if (
            isinstance(obj, h5netcdf.File)
            and getattr(obj, "_closed", True) is False
            and os.path.abspath(str(getattr(obj, "_filename", ""))) == target
        ):
            obj._closed = True


@contextlib.contextmanager
def typed_write_errors(dest: PathLike, *, in_place: bool = False) -> Iterator[None]:
    """Turn a failed write of the data file ``dest`` into :class:`DataFileWriteError`.

    With ``in_place`` (an h5netcdf file written directly), the process stays usable
    afterwards: see :func:`_disarm_broken_h5netcdf_files`.
    """
    try:
        yield
    except (OSError, RuntimeError) as exc:
        # h5py reports a failed close as RuntimeError; the OSError behind it is in the chain
        if in_place:
            _disarm_broken_h5netcdf_files(Path(dest))
        if _CHECKSUM_FAILED in str(exc):
            # reading the old values (to compare them) found a damaged chunk: nothing written
            raise read_error(Path(dest), "h5netcdf", exc) from exc
        raise _write_error(dest, exc, in_place=in_place) from exc


def _write_error(
    dest: PathLike, exc: BaseException, *, in_place: bool = False
) -> DataFileWriteError:
    """The :class:`DataFileWriteError` saying that writing ``dest`` failed with ``exc``."""
    cause: BaseException | None = exc
    errno = None
    while cause is not None and errno is None:
        errno = getattr(cause, "errno", None)
        cause = cause.__context__
    if errno is None:
        # HDF5 puts the system's errno only in its message ("... errno = 28, ...")
        found = re.search(r"errno = (\d+)", str(exc))
        errno = int(found.group(1)) if found else None
    reason = os.strerror(errno) if errno else f"{type(exc).__name__}: {str(exc)[:200]}"
    outcome = (
        "It was being written in place (in_place=True): some variables may hold the new "
        "values and others not (each written block is whole); harvest the same cases again."
        if in_place
        else "The previous file (if any) is unchanged and no partial file was left."
    )
    message = (
        f"could not write the data file {os.fspath(dest)!r} ({reason}); the disk or your quota "
        f"is probably full: free some space and run again. {outcome}"
    )
    # with an errno, `except OSError as e: e.errno == ENOSPC` works as for the builtin
    return DataFileWriteError(errno, message) if errno else DataFileWriteError(message)


def read_error(path: Path, engine: str, exc: BaseException) -> DataFileError:
    """A typed error for a data file that cannot be read, saying why where it can tell."""
    backup = f"{os.fspath(path)}{storage.BACKUP_SUFFIX}"
    if _CHECKSUM_FAILED in str(exc):
        # HDF5 refuses a chunk whose Fletcher-32 checksum does not match its bytes
        return DataFileError(
            f"the dataset file {os.fspath(path)!r} fails a checksum: some of its values "
            "changed on disk after they were written (a flipped bit, a damaged copy), so it "
            f"is not read. Restore it from a copy or from {backup!r}, or compute it again."
        )
    return DataFileError(
        f"cannot read the dataset file {os.fspath(path)!r} ({type(exc).__name__}: {exc}); "
        f"it may be truncated or not a {engine} file. A previous version may be at "
        f"{backup!r}."
    )
