"""Where finished batches are: append-only result logs, one per growing process.

A grower appends one checksummed record per finished batch to its own log
``results/<host>-<pid>-<ns>.log`` (single writer, so no two processes ever append to one
file). A batch is *done* when some log holds a complete record of it; a record torn by a
crash is simply not there yet, and a damaged one is listed in ``results/damaged`` and its
batch counts as missing until grown again. One file per grower instead of one per batch keeps
the inode count low and avoids a file creation per batch (~0.2 ms here, more on NFS).

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import IO, Any

from . import records
from .errors import DataFileError, XyzfarmError
from .layout import CropLayout

LOG_SUFFIX = ".log"


class ResultWriteError(XyzfarmError, OSError):
    """A finished batch's result could not be written (disk full, read-only folder, quota)."""


DAMAGED = "damaged"


class ResultIndex:
    """Which batches are done, and where their records are; refreshed incrementally.

    Each refresh reads only what was appended (and logs created) since the last one.
    """

    def __init__(self, layout: CropLayout) -> None:
        self.layout = layout
        self.folder = layout.folder("results")
        self._scanned: dict[str, int] = {}
        self._where: dict[int, list[tuple[str, int]]] = {}
        self._damaged: set[tuple[str, int]] = set()
        self._refreshed = -1e9

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
        self._damaged |= self._read_damaged()
        for name in names:
            start = self._scanned.get(name, 0)
            entries, end = records.scan_log(self.folder / name, start)
            self._scanned[name] = end
            for batch, offset in entries:
                self.note(batch, (name, offset))
        return self

    def note(self, batch: int, place: tuple[str, int]) -> None:
        """Record where a result of ``batch`` is (e.g. one this process just wrote)."""
        places = self._where.setdefault(batch, [])
        if place not in places:
            places.append(place)

    def _read_damaged(self) -> set[tuple[str, int]]:
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

    def done(self) -> set[int]:
        """Batches with at least one record not known to be damaged."""
        return {
            b for b, places in self._where.items() if any(p not in self._damaged for p in places)
        }

    def has(self, batch: int) -> bool:
        return any(p not in self._damaged for p in self._where.get(batch, ()))

    def load(self, batch: int) -> Any:
        """The result of ``batch``; damaged records are noted and skipped.

        Raises
        ------
        KeyError
            If no intact record of the batch exists.
        """
        for place in self._where.get(batch, ()):
            if place in self._damaged:
                continue
            try:
                _, obj = records.read_log_record(self.folder / place[0], place[1])
            except DataFileError as exc:
                self.mark_damaged(place, exc)
                continue
            return obj
        raise KeyError(batch)

    def mark_damaged(self, place: tuple[str, int], reason: Exception) -> None:
        """Remember a damaged record, so its batch is grown again."""
        import warnings

        self._damaged.add(place)
        with open(self.folder / DAMAGED, "a") as f:
            f.write(f"{place[0]} {place[1]}\n")
        warnings.warn(f"{reason} Batch counts as missing: grow it again.", stacklevel=3)


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
