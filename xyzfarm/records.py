"""Framed, checksummed pickle records: batch inputs, batch results and case checkpoints.

Each record is ``MAGIC | payload length (8 bytes) | crc32 (4 bytes) | payload``; records in a
result log also carry their batch id in the header (``LOG_MAGIC | batch | length | crc``), so
a log can be indexed by reading headers only. A reader can tell a complete record from a
truncated or damaged one without trusting the pickle, so:

* a result or input record cut short (or damaged later) is *detected*, never half-read;
* an append-only file killed mid-append loses only its last, incomplete record.

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from . import storage
from .errors import DataFileError

MAGIC = b"XYZr"
_HEADER = struct.Struct("<4sQI")
HEADER_SIZE = _HEADER.size


def frame(obj: Any) -> bytes:
    """One record holding ``obj``."""
    payload = storage.dumps(obj)
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _read_frame(f: BinaryIO, where: str) -> Any:
    header = f.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise EOFError(where)
    magic, length, crc = _HEADER.unpack(header)
    if magic != MAGIC:
        raise DataFileError(f"{where} is not an xyzfarm record (bad magic {magic!r}).")
    payload = f.read(length)
    if len(payload) < length:
        raise EOFError(where)
    if zlib.crc32(payload) != crc:
        raise DataFileError(f"{where} fails its checksum: the file is damaged.")
    return storage.loads(payload)


def append_record(f: BinaryIO, obj: Any) -> None:
    """Append one record to an open file with a single write, and push it to the OS."""
    f.write(frame(obj))
    f.flush()


def read_appended(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete record of an append-only file; a torn last record is dropped."""
    out: list[Any] = []
    if not os.path.exists(path):
        return out
    with open(path, "rb") as f:
        where = os.fspath(path)
        while True:
            try:
                out.append(_read_frame(f, where))
            except (EOFError, DataFileError):
                return out


def write_indexed(path: Path, index_path: Path, items: Iterator[Any]) -> int:
    """Write one record per item into ``path`` and their byte offsets into ``index_path``.

    Returns the number of records. Both files are published atomically.
    """
    offsets = [0]
    with storage.atomic_path(path) as tmp, open(tmp, "wb") as f:
        for item in items:
            f.write(frame(item))
            offsets.append(f.tell())
    storage.write_bytes(index_path, struct.pack(f"<{len(offsets)}Q", *offsets))
    return len(offsets) - 1


class IndexedReader:
    """Random access to the records of an indexed file, through handles kept open."""

    def __init__(self, path: Path, index_path: Path) -> None:
        self.path = path
        self._data = open(path, "rb")  # noqa: SIM115 - lives as long as the reader
        self._index = open(index_path, "rb")  # noqa: SIM115

    def get(self, i: int) -> Any:
        """Record ``i`` (0-based)."""
        self._index.seek(8 * i)
        raw = self._index.read(8)
        if len(raw) < 8:
            raise DataFileError(f"{os.fspath(self.path)} has no record {i}.")
        self._data.seek(struct.unpack("<Q", raw)[0])
        try:
            return _read_frame(self._data, f"{os.fspath(self.path)} record {i}")
        except EOFError:
            raise DataFileError(f"{os.fspath(self.path)} is truncated at record {i}.") from None

    def close(self) -> None:
        self._data.close()
        self._index.close()


LOG_MAGIC = b"XYZb"
_LOG_HEADER = struct.Struct("<4sQQI")
LOG_HEADER_SIZE = _LOG_HEADER.size


def log_frame(batch: int, obj: Any) -> bytes:
    """One result-log record of ``batch`` holding ``obj``."""
    payload = storage.dumps(obj)
    return _LOG_HEADER.pack(LOG_MAGIC, batch, len(payload), zlib.crc32(payload)) + payload


def scan_log(path: str | os.PathLike[str], start: int = 0) -> tuple[list[tuple[int, int]], int]:
    """Index a result log from byte ``start``: ``([(batch, offset), ...], end)``.

    Only headers are read. ``end`` is where the complete records end: a torn record being
    appended right now (or cut by a crash) is left for a later scan. A damaged header stops
    the scan for good (later batches in that log count as missing).
    """
    entries: list[tuple[int, int]] = []
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; FileNotFoundError is normal
    except FileNotFoundError:
        return entries, start
    with f:
        size = os.fstat(f.fileno()).st_size
        offset = start
        while offset + LOG_HEADER_SIZE <= size:
            f.seek(offset)
            magic, batch, length, _ = _LOG_HEADER.unpack(f.read(LOG_HEADER_SIZE))
            if magic != LOG_MAGIC:
                return entries, size  # damaged: nothing after this can be trusted
            end = offset + LOG_HEADER_SIZE + length
            if end > size:
                break
            entries.append((batch, offset))
            offset = end
        return entries, offset


def read_log_record(path: str | os.PathLike[str], offset: int) -> tuple[int, Any]:
    """The ``(batch, object)`` of the log record at ``offset``, checksum verified."""
    where = f"{os.fspath(path)} at byte {offset}"
    with open(path, "rb") as f:
        f.seek(offset)
        header = f.read(LOG_HEADER_SIZE)
        if len(header) < LOG_HEADER_SIZE:
            raise DataFileError(f"{where}: truncated record.")
        magic, batch, length, crc = _LOG_HEADER.unpack(header)
        payload = f.read(length)
    if magic != LOG_MAGIC or len(payload) < length:
        raise DataFileError(f"{where}: truncated or not a result record.")
    if zlib.crc32(payload) != crc:
        raise DataFileError(f"{where}: the result of batch {batch} fails its checksum (damaged).")
    return batch, storage.loads(payload)
