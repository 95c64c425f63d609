"""Where finished batches are: append-only result logs, one per growing process.

A grower appends one checksummed record per finished batch to its own log
``results/<host>-<pid>-<ns>.log`` (single writer, so no two processes ever append to one
file). One file per grower instead of one per batch keeps the inode count low and avoids a
file creation per batch (~0.2 ms here, more on NFS).

There is one reading of these files, :class:`ResultIndex`, shared by ``status``, ``grow``
and ``reap``, so they never disagree. A batch is

* *done* when some log holds an intact record of it: complete, and its checksum (which
  covers the whole record, batch id included) verified;
* *damaged* when its only records fail their checksum, or were refused when read because
  they do not hold what the batch's plan says (see :func:`verify_result`; such records are
  listed in ``results/damaged``): it counts as missing and is grown again;
* otherwise not there yet: a record torn by a crash (or still being appended) is skipped.

Growers do not read other growers' logs before each batch: with thousands of array tasks
that would be thousands of opens per batch on the filesystem's metadata server. They consult
:class:`DoneMap` instead, one byte per batch in ``results/.done.map``, set by the grower
right after it appends the batch's record: one ``pread`` on a file kept open. A set byte is a
hint, never a proof: ``status`` and ``reap`` read the logs, and every reading that finds a
batch without an intact record (the planning before growing, :meth:`ResultIndex.sync_done_map`,
or a reap refusing a record) clears its byte, so it is grown again.

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import IO, Any

from ..errors import DataFileError, SowingMismatchError, XyzfarmError
from ..errors import ResultWriteError as ResultWriteError  # defined with every other error
from ..sweep.gc_pause import paused_gc
from . import records
from .layout import CropLayout
from .result_checks import verify_result

LOG_SUFFIX = ".log"

#: ``results/damaged``: one ``<log name> <offset>`` line per record refused when read
DAMAGED = "damaged"

#: ``results/.done.map``: byte ``i - 1`` is 1 once batch ``i`` has a result (a hint). Hidden:
#: it holds no result, so a folder with only this file is not taken for grown results.
DONE_MAP = ".done.map"


def done_map_name(sowing: bytes | None) -> str:
    """The done map's file name: ``.done.<sowing id>.map`` for a crop with a sowing id, so a
    map of another sowing (a grower of a deleted crop, a copy) is never the one read."""
    return DONE_MAP if sowing is None else f".done.{sowing.hex()}.map"


_SET, _CLEAR = b"\x01", b"\x00"

Place = tuple[str, int]


class ResultIndex:
    """Which batches are done, and where their records are; refreshed incrementally.

    Each refresh reads only what was appended (and logs created) since the last one, and
    checks the checksum of every complete record it reads (each byte once, nothing
    unpickled), so a batch counted done has an intact record.

    Parameters
    ----------
    layout : CropLayout
        The crop.
    report : bool
        Report each damaged record found: a warning naming its file and offset, and a line
        in ``results/damaged``. ``status`` reads silently (it shows a count, and writes
        nothing).
    lazy : bool
        Read only record headers when refreshing, and check a batch's records when it is
        asked about (:meth:`has`). A task recording why it could not start uses this: it
        asks about its own few batches, and need not check every other task's results.
    """

    def __init__(
        self,
        layout: CropLayout,
        *,
        report: bool = True,
        lazy: bool = False,
        sowing: bytes | None = None,
    ) -> None:
        self.layout = layout
        #: the crop's sowing id: records of another sowing are refused (see records.frame)
        self.sowing = sowing
        self.folder = layout.folder("results")
        self.report = report
        self.lazy = lazy
        self._scanned: dict[str, int] = {}
        #: (size, mtime) of each log when last scanned: an unchanged log is not opened again
        self._seen: dict[str, tuple[int, int]] = {}
        self._where: dict[int, list[Place]] = {}
        self._unverified: set[Place] = set()
        #: records that fail their checksum: place -> batch their header claims
        self._broken: dict[Place, int] = {}
        #: records listed in results/damaged (refused when read)
        self._refused: set[Place] = set()
        #: records of another sowing (see records.frame): never taken
        self._foreign: set[Place] = set()
        self._refreshed = -1e9
        self._cases: records.IndexedReader | None = None
        #: logs opened by :meth:`load`, kept open until :meth:`close` (or the index goes)
        self._logs: dict[str, int] = {}
        weakref.finalize(self, _close_all, self._logs)

    def refresh(self, max_age_s: float = 0.0) -> ResultIndex:
        """Read what was appended since the last refresh (skipped if that was < max_age_s ago).

        Each log is touched once: a log already read and unchanged since (same size and
        mtime) costs one ``stat``. Growers do not call this per batch (they check the
        :class:`DoneMap`): with thousands of array tasks each writing its own log, scanning
        every log for every batch would put thousands of opens per batch on the filesystem.
        """
        now = time.monotonic()
        if max_age_s and now - self._refreshed < max_age_s:
            return self
        self._refreshed = now
        try:
            names = [n for n in os.listdir(self.folder) if n.endswith(LOG_SUFFIX)]
        except FileNotFoundError:
            return self
        self._refused |= self._read_refused()
        with paused_gc():  # a tuple or two per record: see paused_gc
            for name in names:
                self._refresh_log(name)
        return self

    def _refresh_log(self, name: str) -> None:
        """Read what was appended to the log ``name`` since the last refresh."""
        start = self._scanned.get(name, 0)
        if start:
            # one stat instead of open, fstat, read and close for a log unchanged since
            try:
                info = os.stat(self.folder / name)
            except FileNotFoundError:
                return
            seen = (info.st_size, info.st_mtime_ns)
            if self._seen.get(name) == seen:
                return
            self._seen[name] = seen
        scan = records.scan_log(self.folder / name, start, verify=not self.lazy, sowing=self.sowing)
        self._scanned[name] = scan.end
        for batch, offset in scan.entries:
            self.note(batch, (name, offset))
            if self.lazy:
                self._unverified.add((name, offset))
        for batch, offset, reason in scan.damaged:
            self._found_broken((name, offset), batch, reason)
        for _, offset, reason in scan.foreign:
            self._found_foreign((name, offset), reason)

    def sync_done_map(self, num_batches: int) -> None:
        """Make the growers' :class:`DoneMap` agree with the logs for batches 1..num_batches.

        Sets the bytes of done batches (a crop grown by the previous release has no map: it is
        made here) and clears those of batches without an intact record (damaged, refused, or
        whose log was removed), so growers grow them again. The map is read before the logs
        are refreshed: a byte set meanwhile by a grower has its record appended before it, so
        it is seen done and never cleared. A read-only crop is left as it is.
        """
        with contextlib.suppress(OSError):
            done_map = DoneMap.open(self.layout, self)
            try:
                before = done_map.read(num_batches)
                self.refresh()
                done = {b for b in self.done() if 1 <= b <= num_batches}
                marked = {i + 1 for i, flag in enumerate(before) if flag}
                for batch in marked - done:
                    done_map.clear(batch)
                for batch in done - marked:
                    done_map.set(batch)
            finally:
                done_map.close()

    def _forget(self, batch: int) -> None:
        """Clear the done-map byte of ``batch`` if it has no intact record left."""
        if self.report and not self.has(batch):
            DoneMap.clear_in(self.layout, batch, sowing=self.sowing)

    def note(self, batch: int, place: Place) -> None:
        """Record where an intact result of ``batch`` is (e.g. one this process just wrote)."""
        places = self._where.setdefault(batch, [])
        if place not in places:
            places.append(place)

    def _found_broken(self, place: Place, batch: int, reason: str) -> None:
        if place in self._broken:
            return
        self._broken[place] = batch
        places = self._where.get(batch, [])
        if place in places:
            places.remove(place)
        if self.report and place not in self._refused:
            self._list_damaged(place)
            warnings.warn(f"{reason} Batch {batch} counts as missing: grow it again.", stacklevel=4)
            self._forget(batch)

    def _found_foreign(self, place: Place, reason: str) -> None:
        """A record of another sowing: never taken, said once, but not listed as damaged
        (that verdict is kept in the folder; this one depends on the crop read)."""
        if place in self._foreign:
            return
        self._foreign.add(place)
        for places in self._where.values():
            if place in places:
                places.remove(place)
        if self.report:
            warnings.warn(f"{reason} Its batch counts as missing if it has no other.", stacklevel=4)

    def _read_refused(self) -> set[Place]:
        try:
            text = (self.folder / DAMAGED).read_text()
        except FileNotFoundError:
            return set()
        out = set()
        for line in text.splitlines():
            name, _, offset = line.rpartition(" ")
            if name and offset.isdigit():
                out.add((name, int(offset)))
        return out

    def _intact(self, place: Place, batch: int) -> bool:
        if place in self._refused or place in self._broken or place in self._foreign:
            return False
        if place in self._unverified:
            try:
                claimed = records.check_log_record(
                    self.folder / place[0], place[1], sowing=self.sowing
                )
            except SowingMismatchError as exc:
                self._unverified.discard(place)
                self._found_foreign(place, str(exc))
                return False
            except DataFileError as exc:
                self._found_broken(place, batch, str(exc))
                return False
            self._unverified.discard(place)
            if claimed != batch:  # the log was rewritten under us
                self._found_broken(place, batch, f"{place[0]} at byte {place[1]} changed.")
                return False
        return True

    def has(self, batch: int) -> bool:
        """Whether ``batch`` has an intact record."""
        return any(self._intact(p, batch) for p in list(self._where.get(batch, ())))

    def done(self) -> set[int]:
        """Batches with at least one intact record."""
        if not (self._unverified or self._refused):
            # every listed place was verified when scanned: no per-batch checks needed
            return {b for b, places in self._where.items() if places}
        return {b for b in list(self._where) if self.has(b)}

    def damaged(self) -> set[int]:
        """Batches (as their records' headers say) whose only records are damaged or refused."""
        bad = set(self._broken.values())
        if self._refused:
            refused = self._refused
            bad.update(b for b, places in self._where.items() if not refused.isdisjoint(places))
        return {b for b in bad if not self.has(b)}

    def _sown(self) -> records.IndexedReader:
        if self._cases is None:
            self._cases = records.IndexedReader(
                self.layout.cases, self.layout.cases_index, sowing=self.sowing
            )
            # the reap may never call close(): the handles go with the index
            weakref.finalize(self, self._cases.close)
        return self._cases

    def load(self, batch: int, sown_indices: Sequence[int] | None = None) -> Any:
        """The result of ``batch``, checked against the batch's plan.

        Each record of the batch is read (checksum verified) and checked with
        :func:`verify_result`; one that fails is listed in ``results/damaged`` with a warning
        naming its file and offset, and the next one is tried.

        Parameters
        ----------
        batch : int
            The batch id (1-based).
        sown_indices : sequence of int, optional
            The batch's sown case positions, if the caller has them at hand; by default they
            are read from ``cases.bin``.

        Raises
        ------
        KeyError
            If no intact record of the batch exists (it counts as missing).
        DataFileError
            If the crop's case files, needed to check the record, are missing or damaged.
        """
        places = [p for p in self._where.get(batch, ()) if p not in self._refused]
        if not places:
            self._forget(batch)
            raise KeyError(batch)
        cases = self._sown()
        if sown_indices is None:
            # a batch outside the plan has no sown cases: each of its records is refused below
            sown_indices = cases.get(batch - 1)["indices"] if 1 <= batch <= len(cases) else ()
        for place in places:
            if place in self._broken:
                continue
            name = place[0]
            path = f"{self.folder}{os.sep}{name}"
            where = f"{path} at byte {place[1]}"
            fd = self._logs.get(name)
            if fd is None:
                fd = self._logs[name] = os.open(path, os.O_RDONLY)
            try:
                claimed, obj = records.read_log_record_in(fd, place[1], path, sowing=self.sowing)
                verify_result(obj, claimed, sown_indices, len(cases), where)
                if claimed != batch:
                    raise DataFileError(f"{where}: the record is of batch {claimed}, not {batch}.")
            except SowingMismatchError as exc:
                self._found_foreign(place, str(exc))
                continue
            except DataFileError as exc:
                self.mark_damaged(place, exc)
                continue
            self._unverified.discard(place)
            return obj
        self._forget(batch)
        raise KeyError(batch)

    def mark_damaged(self, place: Place, reason: Exception) -> None:
        """List a record in ``results/damaged`` (with a warning), so its batch is grown again."""
        self._list_damaged(place)
        warnings.warn(f"{reason} Batch counts as missing: grow it again.", stacklevel=3)

    def _list_damaged(self, place: Place) -> None:
        self._refused.add(place)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            with os.fdopen(self.layout.open_file(self.folder / DAMAGED, flags), "a") as f:
                f.write(f"{place[0]} {place[1]}\n")  # one short write: never torn in practice
        except OSError:
            pass  # a read-only crop: the record is found damaged again at every reading

    def close(self) -> None:
        """Close the files opened to load and check records (also done when the index goes)."""
        if self._cases is not None:
            self._cases.close()
            self._cases = None
        _close_all(self._logs)

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(fds: dict[str, int]) -> None:
    while fds:
        os.close(fds.popitem()[1])


def _planned_batches(layout: CropLayout, sowing: bytes | None) -> int:
    """How many batches the crop's case plan holds (0 if it cannot be read: then no byte
    is set, and growers find done batches in the logs, a batch grown twice at worst)."""
    try:
        reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=sowing)
    except (DataFileError, OSError):
        return 0
    try:
        return len(reader)
    finally:
        reader.close()


class DoneMap:
    """Which batches have a result, one byte each, for growers to check before claiming one.

    The file ``results/.done.map`` is kept open: checking a batch is one ``pread`` at offset
    ``batch - 1`` and marking it one ``pwrite``, whatever the number of growers, where reading
    their logs would open each of them. Its size grows with the number of batches (one byte
    each), its inode count is one.

    A grower sets a batch's byte only after appending its record, so a set byte has a record
    behind it; a crash in between costs the batch grown twice, never a batch lost. The logs
    stay the truth: see :meth:`ResultIndex.sync_done_map` for how damaged records clear it.
    On NFS another client may see a set byte late (its page cache): a batch grown twice.

    Use :meth:`open`; a missing map (a crop sown by the previous release) is made from the
    logs on first use.
    """

    def __init__(self, path: os.PathLike[str], fd: int, *, writable: bool) -> None:
        self.path = os.fspath(path)
        self.fd = fd
        self.writable = writable

    @classmethod
    def open(
        cls,
        layout: CropLayout,
        index: ResultIndex | None = None,
        *,
        sowing: bytes | None = None,
    ) -> DoneMap:
        """The map of the crop's ``sowing`` (``index``'s, if given), made from the logs
        (``index``'s reading, or a new one) if missing.

        A crop that cannot be written (read-only copy) gets a map that reads and never writes.
        """
        if index is not None:
            sowing = index.sowing
        path = layout.folder("results") / done_map_name(sowing)
        try:
            return cls(path, layout.open_file(path, os.O_RDWR), writable=True)
        except FileNotFoundError:
            cls._create(layout, index, sowing)
        except PermissionError:
            pass
        try:
            return cls(path, layout.open_file(path, os.O_RDWR), writable=True)
        except PermissionError:
            return cls(path, layout.open_file(path, os.O_RDONLY), writable=False)

    @staticmethod
    def _create(layout: CropLayout, index: ResultIndex | None, sowing: bytes | None) -> None:
        folder = layout.folder("results")
        name = done_map_name(sowing)
        if index is None:
            index = ResultIndex(layout, report=False, sowing=sowing)
        # batch ids read from record headers before their records are verified: only those
        # of the crop's plan count (a flipped bit in one would otherwise size the map at
        # gigabytes)
        total = _planned_batches(layout, sowing)
        done = [b for b in index.refresh().done() if 1 <= b <= total]
        flags = bytearray(max(done, default=0))
        for batch in done:
            flags[batch - 1] = 1
        tmp = folder / f"{name}.{socket.gethostname()}-{os.getpid()}.tmp"
        with os.fdopen(layout.open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
            f.write(flags)
        try:
            # a link never replaces: the first map made wins, and no grower ever writes
            # into a map that a later one replaced (its marks would be lost to everyone else)
            os.link(tmp, folder / name)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: take the same care by hand
            with contextlib.suppress(FileExistsError):
                fd = layout.open_file(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                with os.fdopen(fd, "wb") as f:
                    f.write(flags)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @classmethod
    def clear_in(cls, layout: CropLayout, batch: int, *, sowing: bytes | None = None) -> None:
        """Clear ``batch``'s byte in the map of the crop's ``sowing``, if it has one (best
        effort)."""
        with contextlib.suppress(OSError):
            fd = layout.open_file(layout.folder("results") / done_map_name(sowing), os.O_WRONLY)
            try:
                os.pwrite(fd, _CLEAR, batch - 1)
            finally:
                os.close(fd)

    def is_set(self, batch: int) -> bool:
        """Whether ``batch`` (1-based) was marked done."""
        return os.pread(self.fd, 1, batch - 1) == _SET

    def set(self, batch: int) -> None:
        """Mark ``batch`` done (call only once its record is appended)."""
        if self.writable:
            os.pwrite(self.fd, _SET, batch - 1)

    def clear(self, batch: int) -> None:
        """Mark ``batch`` not done: it has no intact record."""
        if self.writable:
            os.pwrite(self.fd, _CLEAR, batch - 1)

    def read(self, num_batches: int) -> bytes:
        """The bytes of batches 1..num_batches (zero beyond the end of the file)."""
        got = os.pread(self.fd, num_batches, 0)
        return got + bytes(num_batches - len(got))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class ResultWriter:
    """This process's result log, created on the first finished batch."""

    def __init__(self, layout: CropLayout, *, sowing: bytes | None = None) -> None:
        self.layout = layout
        #: the crop's sowing id, carried by every record written (see records.frame)
        self.sowing = sowing
        self._file: IO[bytes] | None = None
        self._path = ""  # of the log open in _file
        self._guard = threading.Lock()

    def append(self, batch: int, obj: Any, *, plain: bool = False) -> tuple[str, int]:
        """Append the result of ``batch``; return its place ``(log name, offset)``.

        ``plain``: ``obj`` is plain data (see :func:`~xyzfarm.storage.dumps`).
        """
        frame = records.log_frame(batch, obj, plain=plain, sowing=self.sowing)
        with self._guard:
            return self._append(frame)

    def _append(self, frame: bytes) -> tuple[str, int]:
        path = self._path
        try:
            if self._file is None:
                name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{LOG_SUFFIX}"
                path = self._path = os.fspath(self.layout.folder("results") / name)
                # no link followed on the way (see CropLayout.open_file)
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
                self._file = os.fdopen(self.layout.open_file(path, flags), "ab")
            # one write() per record: a crash leaves at most a torn tail, which readers skip
            offset = self._file.tell()
            self._file.write(frame)
            self._file.flush()
        except OSError as exc:
            if isinstance(exc, XyzfarmError):
                raise  # a link in the way: CropFormatError, said by CropLayout.open_file
            # the record may be torn: never append after it (readers would lose the rest
            # of this log); the next result starts a new log
            self._file = None
            raise ResultWriteError(
                f"could not write a result to {path!r} ({exc.strerror or exc}); free some "
                "space or inodes, or fix the folder's permissions, then grow again: the "
                "batch's checkpoint is kept and no partial result counts as done."
            ) from exc
        return os.path.basename(path), offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
