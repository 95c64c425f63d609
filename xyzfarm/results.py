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

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import IO, Any

from . import records
from .errors import DataFileError, XyzfarmError
from .layout import CropLayout

LOG_SUFFIX = ".log"

#: ``results/damaged``: one ``<log name> <offset>`` line per record refused when read
DAMAGED = "damaged"

Place = tuple[str, int]


class ResultWriteError(XyzfarmError, OSError):
    """A finished batch's result could not be written (disk full, read-only folder, quota)."""


def _same_indices(got: Any, sown: Sequence[int]) -> bool:
    if isinstance(got, (range, list, tuple)) and type(got) is type(sown):
        return bool(got == sown)  # compared in C: no list of a million ints to build
    try:
        return len(got) == len(sown) and [int(i) for i in got] == [int(i) for i in sown]
    except (TypeError, ValueError):
        return False


def _describe(indices: Any) -> str:
    try:
        n = len(indices)
        shown = [int(i) for i in list(indices)[:4]]
    except (TypeError, ValueError):
        return repr(indices)[:60]
    return f"{n} cases {shown}{' ...' if n > 4 else ''}"


def verify_result(
    result: Any, batch: int, sown_indices: Sequence[int], num_batches: int, where: str
) -> None:
    """Check that ``result`` is what batch ``batch`` of the crop's plan must hold.

    Parameters
    ----------
    result : Any
        An unpickled result record: ``{"indices", "outputs", "prov"}``.
    batch : int
        The batch id the record claims (1-based).
    sown_indices : sequence of int
        The case positions the batch was sown with (``indices`` of its ``cases.bin`` record).
    num_batches : int
        The number of batches of the crop.
    where : str
        The record's place, for the message (``<log> at byte <offset>``).

    Raises
    ------
    DataFileError
        If the batch id is not in ``1..num_batches``, or the record's case positions are not
        the batch's sown ones, or it does not hold one output per case (or provenance for
        positions outside the batch).
    """
    if not (isinstance(batch, int) and 1 <= batch <= num_batches):
        raise DataFileError(
            f"{where}: the record claims batch {batch!r}, but the crop has batches 1.."
            f"{num_batches}."
        )
    if not (isinstance(result, dict) and "indices" in result and "outputs" in result):
        raise DataFileError(f"{where}: the record of batch {batch} is not a batch result.")
    indices, outputs = result["indices"], result["outputs"]
    if not _same_indices(indices, sown_indices):
        raise DataFileError(
            f"{where}: the record of batch {batch} holds {_describe(indices)}, but batch "
            f"{batch} was sown with {_describe(sown_indices)}."
        )
    try:
        count = len(outputs)
    except TypeError:
        count = -1
    if count != len(sown_indices):
        raise DataFileError(
            f"{where}: the record of batch {batch} holds {count} outputs for its "
            f"{len(sown_indices)} cases."
        )
    # min/max/set over each segment's list run in C: ~1 us per batch, not per case
    covered: set[int] = set()
    named = 0
    try:
        for segment in result.get("prov") or ():
            positions = segment[0]
            if not len(positions):
                continue
            if min(positions) < 0 or max(positions) >= count:
                raise DataFileError(
                    f"{where}: the provenance of batch {batch} names case positions outside "
                    f"its {count} cases."
                )
            covered.update(positions)
            named += len(positions)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise DataFileError(f"{where}: the provenance of batch {batch} is malformed.") from exc
    if len(covered) != named:
        raise DataFileError(
            f"{where}: the provenance of batch {batch} names a case position twice."
        )


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
        asked about (:meth:`has`). Growers use this: a cluster task asks about the few
        batches it grows, and need not read every other task's results over the network.
    """

    def __init__(self, layout: CropLayout, *, report: bool = True, lazy: bool = False) -> None:
        self.layout = layout
        self.folder = layout.folder("results")
        self.report = report
        self.lazy = lazy
        self._scanned: dict[str, int] = {}
        self._where: dict[int, list[Place]] = {}
        self._unverified: set[Place] = set()
        #: records that fail their checksum: place -> batch their header claims
        self._broken: dict[Place, int] = {}
        #: records listed in results/damaged (refused when read)
        self._refused: set[Place] = set()
        self._refreshed = -1e9
        self._cases: records.IndexedReader | None = None

    def refresh(self, max_age_s: float = 0.0) -> ResultIndex:
        """Read what was appended since the last refresh (skipped if that was < max_age_s ago).

        Growers call this with a small ``max_age_s`` before each batch: with hundreds of array
        tasks each writing its own log, scanning every log for every batch would dominate.
        The cost of a stale view is at most a batch grown twice, never a wrong result.
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
        for name in names:
            start = self._scanned.get(name, 0)
            scan = records.scan_log(self.folder / name, start, verify=not self.lazy)
            self._scanned[name] = scan.end
            for batch, offset in scan.entries:
                self.note(batch, (name, offset))
                if self.lazy:
                    self._unverified.add((name, offset))
            for batch, offset, reason in scan.damaged:
                self._found_broken((name, offset), batch, reason)
        return self

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
        if place in self._refused or place in self._broken:
            return False
        if place in self._unverified:
            try:
                claimed = records.check_log_record(self.folder / place[0], place[1])
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
            self._cases = records.IndexedReader(self.layout.cases, self.layout.cases_index)
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
            raise KeyError(batch)
        cases = self._sown()
        if sown_indices is None:
            # a batch outside the plan has no sown cases: each of its records is refused below
            sown_indices = cases.get(batch - 1)["indices"] if 1 <= batch <= len(cases) else ()
        for place in places:
            if place in self._broken:
                continue
            where = f"{self.folder / place[0]} at byte {place[1]}"
            try:
                claimed, obj = records.read_log_record(self.folder / place[0], place[1])
                verify_result(obj, claimed, sown_indices, len(cases), where)
                if claimed != batch:
                    raise DataFileError(f"{where}: the record is of batch {claimed}, not {batch}.")
            except DataFileError as exc:
                self.mark_damaged(place, exc)
                continue
            self._unverified.discard(place)
            return obj
        raise KeyError(batch)

    def mark_damaged(self, place: Place, reason: Exception) -> None:
        """List a record in ``results/damaged`` (with a warning), so its batch is grown again."""
        self._list_damaged(place)
        warnings.warn(f"{reason} Batch counts as missing: grow it again.", stacklevel=3)

    def _list_damaged(self, place: Place) -> None:
        self._refused.add(place)
        try:
            with open(self.folder / DAMAGED, "a") as f:
                f.write(f"{place[0]} {place[1]}\n")  # one short write: never torn in practice
        except OSError:
            pass  # a read-only crop: the record is found damaged again at every reading

    def close(self) -> None:
        """Close the case file opened to check records (also done when the index goes)."""
        if self._cases is not None:
            self._cases.close()
            self._cases = None

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResultWriter:
    """This process's result log, created on the first finished batch."""

    def __init__(self, layout: CropLayout) -> None:
        self.layout = layout
        self._file: IO[bytes] | None = None
        self._guard = threading.Lock()

    def append(self, batch: int, obj: Any) -> tuple[str, int]:
        """Append the result of ``batch``; return its place ``(log name, offset)``."""
        frame = records.log_frame(batch, obj)
        with self._guard:
            return self._append(frame)

    def _append(self, frame: bytes) -> tuple[str, int]:
        if self._file is None:
            name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{LOG_SUFFIX}"
            self._file = open(self.layout.folder("results") / name, "ab")  # noqa: SIM115
        # one write() per record: a crash leaves at most a torn tail, which readers skip
        offset = self._file.tell()
        try:
            self._file.write(frame)
            self._file.flush()
        except OSError as exc:
            # the record may be torn: never append after it (readers would lose the rest
            # of this log); the next result starts a new log
            name = self._file.name
            self._file = None
            raise ResultWriteError(
                f"could not write a result to {name!r} ({exc.strerror or exc}); free some "
                "space or fix the folder's permissions, then grow again: the batch's "
                "checkpoint is kept and no partial result counts as done."
            ) from exc
        return os.path.basename(self._file.name), offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
