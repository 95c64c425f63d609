"""Framed, checksummed pickle records: batch inputs, batch results and case checkpoints.

Each record is ``MAGIC | payload length (8 bytes) | crc32 (4 bytes) | payload``; records in a
result log also carry their batch id in the header (``LOG_MAGIC | batch | length | crc``), so
a log can be indexed by reading headers only. The checksum covers the *whole* record: every
header field before it, then the payload. So a record whose length, batch id or payload was
damaged fails its checksum, and a reader can tell a complete record from a truncated or
damaged one without trusting the pickle:

* a result or input record cut short (or damaged later) is *detected*, never half-read;
* an append-only file killed mid-append loses only its last, incomplete record.

Records written by xyzfarm before the checksum covered the header (magics ``XYZr`` and
``XYZb``, checksum over the payload only) are still read, with that weaker check, so crops
sown or grown before an upgrade still grow and reap.

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from ..errors import DataFileError
from ..store import storage

#: framed records (batch inputs, checkpoints): the checksum covers the whole record
MAGIC = b"XYZR"
#: framed records of earlier releases: the checksum covers the payload only
MAGIC_PAYLOAD_CRC = b"XYZr"
_HEADER = struct.Struct("<4sQI")
HEADER_SIZE = _HEADER.size

#: result-log records: the checksum covers the whole record, batch id included
LOG_MAGIC = b"XYZB"
#: result-log records of earlier releases: the checksum covers the payload only
LOG_MAGIC_PAYLOAD_CRC = b"XYZb"
_LOG_HEADER = struct.Struct("<4sQQI")
LOG_HEADER_SIZE = _LOG_HEADER.size

#: payloads longer than this are checksummed in pieces of this size (bounded memory)
_PIECE_BYTES = 1 << 22


def _whole_crc(header: bytes, payload: bytes | memoryview) -> int:
    """The checksum of a record: its header up to the checksum field, then its payload."""
    return zlib.crc32(payload, zlib.crc32(header[:-4]))


def _expected_crc(magic: bytes, header: bytes, payload: bytes | memoryview) -> int:
    if magic in (MAGIC, LOG_MAGIC):
        return _whole_crc(header, payload)
    return zlib.crc32(payload)


def frame(obj: Any, *, plain: bool = False) -> bytes:
    """One record holding ``obj`` (``plain``: see :func:`~xyzfarm.storage.dumps`)."""
    payload = storage.dumps(obj, plain=plain)
    header = _HEADER.pack(MAGIC, len(payload), 0)
    return _HEADER.pack(MAGIC, len(payload), _whole_crc(header, payload)) + payload


def _read_frame(f: BinaryIO, where: str, size: int) -> Any:
    """The next record of ``f`` (a file of ``size`` bytes)."""
    header = f.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise EOFError(where)
    magic, length, crc = _HEADER.unpack(header)
    if magic not in (MAGIC, MAGIC_PAYLOAD_CRC):
        raise DataFileError(f"{where} is not an xyzfarm record (bad magic {magic!r}).")
    # the length is checked against what the file holds before it is used: a damaged one
    # (a flipped high bit) would otherwise ask for exabytes (MemoryError, OverflowError)
    if length > size - f.tell():
        raise EOFError(where)
    payload = f.read(length)
    if len(payload) < length:
        raise EOFError(where)
    if _expected_crc(magic, header, payload) != crc:
        raise DataFileError(f"{where} fails its checksum: the file is damaged.")
    return storage.loads(payload)


def append_record(f: BinaryIO, obj: Any) -> None:
    """Append one record to an open file with a single write, and push it to the OS."""
    f.write(frame(obj))
    f.flush()


def read_appended(path: str | os.PathLike[str]) -> list[Any]:
    """Every record of an append-only file up to its first torn or damaged one."""
    out: list[Any] = []
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; one open, no stat before it
    except FileNotFoundError:
        return out
    with f:
        where, size = os.fspath(path), os.fstat(f.fileno()).st_size
        while True:
            try:
                out.append(_read_frame(f, where, size))
            except (EOFError, DataFileError):
                return out


def write_indexed(
    path: Path, index_path: Path, items: Iterator[Any], *, plain: bool = False
) -> int:
    """Write one record per item into ``path`` and their byte offsets into ``index_path``.

    ``plain``: every item is plain data (see :func:`~xyzfarm.storage.dumps`). Returns the
    number of records. Both files are published atomically, their content on disk; their
    folder is not synced (``sync_dir=False`` of :func:`~xyzfarm.storage.atomic_path`): the
    caller publishes a file after them that syncs it (a crop's manifest).
    """
    offsets = [0]
    with storage.atomic_path(path, sync_dir=False) as tmp, open(tmp, "wb") as f:
        for item in items:
            f.write(frame(item, plain=plain))
            offsets.append(f.tell())
    storage.write_bytes(index_path, struct.pack(f"<{len(offsets)}Q", *offsets), sync_dir=False)
    return len(offsets) - 1


class IndexedReader:
    """Random access to the records of an indexed file, through handles kept open.

    Raises
    ------
    DataFileError
        If either file is missing (the crop folder is incomplete).
    """

    def __init__(self, path: Path, index_path: Path) -> None:
        self.path = path
        try:
            self._data = open(path, "rb")  # noqa: SIM115 - lives as long as the reader
            self._index = open(index_path, "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            if getattr(self, "_data", None) is not None:
                self._data.close()
            raise DataFileError(
                f"{exc.filename} is missing: the crop's cases cannot be read; sow the crop "
                "again (delete its folder first), or restore the file."
            ) from None
        # the index ends with the data file's size: a truncated or zeroed index (or data
        # file) is caught here, before a short index makes later batches look unplanned
        index_size = os.fstat(self._index.fileno()).st_size
        last = os.pread(self._index.fileno(), 8, index_size - 8) if index_size >= 8 else b""
        data_size = self._data_size = os.fstat(self._data.fileno()).st_size
        if index_size % 8 or len(last) < 8 or struct.unpack("<Q", last)[0] != data_size:
            self.close()
            raise DataFileError(
                f"{os.fspath(index_path)} does not index {os.fspath(path)} ({index_size} bytes "
                f"of index for {data_size} bytes of cases): one of them is truncated or "
                "damaged; sow the crop again (delete its folder first), or restore the files."
            )

    def __len__(self) -> int:
        """The number of records the index lists."""
        return max(0, os.fstat(self._index.fileno()).st_size // 8 - 1)

    def get(self, i: int) -> Any:
        """Record ``i`` (0-based).

        Safe to call from several threads at once: positional reads share no file offset.
        """
        name = os.fspath(self.path)
        where = f"{name} record {i}"
        raw = os.pread(self._index.fileno(), 16, 8 * i) if i >= 0 else b""
        if len(raw) < 16:
            raise DataFileError(
                f"{name} has no record {i} (its index lists {len(self)}): the crop's cases "
                "are damaged; sow the crop again, or restore the file."
            )
        start, stop = struct.unpack("<QQ", raw)
        size = stop - start
        # offsets are checked against the data file before they are used (a damaged index
        # entry would otherwise ask for terabytes)
        inside = 0 <= start <= stop <= self._data_size
        data = os.pread(self._data.fileno(), size, start) if inside else b""
        if size < HEADER_SIZE or len(data) < size:
            raise DataFileError(
                f"{where} is truncated, or the index of {name} is damaged: the crop's cases "
                "are damaged; sow the crop again, or restore the file."
            )
        magic, length, crc = _HEADER.unpack_from(data)
        if magic not in (MAGIC, MAGIC_PAYLOAD_CRC) or HEADER_SIZE + length != size:
            raise DataFileError(
                f"{where} is not where the index of {name} says, or is damaged: the crop's "
                "cases are damaged; sow the crop again, or restore the file."
            )
        payload = data[HEADER_SIZE:]
        if _expected_crc(magic, data[:HEADER_SIZE], payload) != crc:
            raise DataFileError(
                f"{where} fails its checksum: the crop's cases are damaged; sow the crop "
                "again, or restore the file."
            )
        return storage.loads(payload)

    def close(self) -> None:
        self._data.close()
        self._index.close()


def log_frame(batch: int, obj: Any, *, plain: bool = False) -> bytes:
    """One result-log record of ``batch`` holding ``obj`` (``plain``: as for :func:`frame`)."""
    payload = storage.dumps(obj, plain=plain)
    header = _LOG_HEADER.pack(LOG_MAGIC, batch, len(payload), 0)
    return _LOG_HEADER.pack(LOG_MAGIC, batch, len(payload), _whole_crc(header, payload)) + payload


class LogScan(NamedTuple):
    """What :func:`scan_log` found from its start offset."""

    #: ``(batch, offset)`` of each complete record (checksum verified, if asked)
    entries: list[tuple[int, int]]
    #: where the complete records end: the next scan starts here
    end: int
    #: ``(batch the header claims, offset, reason)`` of each damaged record
    damaged: list[tuple[int, int, str]]


#: bytes read at once when scanning a log: with checksums (every byte is needed), and without
_SCAN_BLOCK_VERIFY, _SCAN_BLOCK_HEADERS = 1 << 22, 1 << 16


def _crc_of_piece_reads(fd: int, offset: int, header: bytes, magic: bytes, length: int) -> int:
    """The checksum of the record whose ``length`` payload bytes follow ``offset``, in pieces."""
    crc = zlib.crc32(header[:-4]) if magic in (MAGIC, LOG_MAGIC) else 0
    position, stop = offset, offset + length
    while position < stop:
        piece = os.pread(fd, min(stop - position, _PIECE_BYTES), position)
        if not piece:
            raise EOFError
        crc = zlib.crc32(piece, crc)
        position += len(piece)
    return crc


def _starts_a_record(fd: int, offset: int, size: int) -> bool:
    """Whether ``offset`` is the end of the file or the start of a log record."""
    return offset == size or os.pread(fd, 4, offset) in (LOG_MAGIC, LOG_MAGIC_PAYLOAD_CRC)


def scan_log(path: str | os.PathLike[str], start: int = 0, *, verify: bool = True) -> LogScan:
    """Index a result log from byte ``start``.

    With ``verify``, each complete record is read whole and its checksum checked (every byte
    read once, in large blocks; nothing unpickled); without it only headers are read. A
    record cut short at the end of the file (being appended right now, or cut by a crash) is
    left for a later scan. A damaged record is listed in ``damaged``; the scan goes on after
    it when its length leads to the next record (or to the end of the file), and otherwise
    stops for good: the later records of that log count as missing.
    """
    entries: list[tuple[int, int]] = []
    damaged: list[tuple[int, int, str]] = []
    where = os.fspath(path)
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below; not found is normal
    except FileNotFoundError:
        return LogScan(entries, start, damaged)
    block_size = _SCAN_BLOCK_VERIFY if verify else _SCAN_BLOCK_HEADERS
    known = (LOG_MAGIC, LOG_MAGIC_PAYLOAD_CRC)
    with f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        offset = start
        block, block_start = b"", start  # the bytes of the file from block_start
        view = memoryview(block)
        unpack_header, crc32 = _LOG_HEADER.unpack_from, zlib.crc32
        while offset + LOG_HEADER_SIZE <= size:
            at = offset - block_start
            if at + LOG_HEADER_SIZE > len(block):
                block, block_start, at = os.pread(fd, block_size, offset), offset, 0
                view = memoryview(block)
                if len(block) < LOG_HEADER_SIZE:
                    break  # the file shrank under us: scan again later
            magic, batch, length, crc = unpack_header(block, at)
            end = offset + LOG_HEADER_SIZE + length
            if magic in known and end > size:
                break  # torn tail: complete it or leave it to a later scan
            if magic in known and not verify:
                entries.append((batch, offset))
                offset = end
                continue
            payload_at = at + LOG_HEADER_SIZE
            if magic in known:
                if payload_at + length <= len(block):
                    payload = view[payload_at : payload_at + length]
                    if magic == LOG_MAGIC:  # inlined: ~10,000 records are scanned in ~15 ms
                        got = crc32(payload, crc32(view[at : payload_at - 4]))
                    else:
                        got = crc32(payload)
                else:  # a record larger than the block: read in pieces
                    try:
                        got = _crc_of_piece_reads(
                            fd, offset + LOG_HEADER_SIZE, block[at:payload_at], magic, length
                        )
                    except EOFError:
                        break  # the file shrank under us: scan again later
                if got == crc:
                    entries.append((batch, offset))
                    offset = end
                    continue
                reason = (
                    f"{where} at byte {offset}: the result record of batch {batch} fails its "
                    "checksum (damaged)."
                )
            else:
                reason = f"{where} at byte {offset}: not a result record (bad magic {magic!r})."
            damaged.append((batch, offset, reason))
            if end > size or not _starts_a_record(fd, end, size):
                return LogScan(entries, size, damaged)  # nothing after this can be framed
            offset = end
        return LogScan(entries, offset, damaged)


def check_log_record(path: str | os.PathLike[str], offset: int) -> int:
    """The batch of the log record at ``offset``, its checksum verified (nothing unpickled).

    Raises
    ------
    DataFileError
        If the record is truncated, not a result record, or fails its checksum.
    """
    where = f"{os.fspath(path)} at byte {offset}"
    with open(path, "rb", buffering=0) as f:
        header = os.pread(f.fileno(), LOG_HEADER_SIZE, offset)
        if len(header) < LOG_HEADER_SIZE:
            raise DataFileError(f"{where}: truncated record.")
        magic, batch, length, crc = _LOG_HEADER.unpack(header)
        if magic not in (LOG_MAGIC, LOG_MAGIC_PAYLOAD_CRC):
            raise DataFileError(f"{where}: not a result record (bad magic {magic!r}).")
        try:
            got = _crc_of_piece_reads(f.fileno(), offset + LOG_HEADER_SIZE, header, magic, length)
        except EOFError:
            raise DataFileError(f"{where}: truncated record.") from None
    if got != crc:
        raise DataFileError(f"{where}: the result record of batch {batch} fails its checksum.")
    return int(batch)


def read_log_record(path: str | os.PathLike[str], offset: int) -> tuple[int, Any]:
    """The ``(batch, object)`` of the log record at ``offset``, checksum verified."""
    with open(path, "rb", buffering=0) as f:
        return read_log_record_in(f.fileno(), offset, os.fspath(path))


def read_log_record_in(fd: int, offset: int, name: str) -> tuple[int, Any]:
    """As :func:`read_log_record`, from a log open as ``fd`` (named ``name`` in errors): two
    positional reads, so a reap reads 10^3 records of one log without 10^3 opens."""
    where = f"{name} at byte {offset}"
    header = os.pread(fd, LOG_HEADER_SIZE, offset)
    if len(header) < LOG_HEADER_SIZE:
        raise DataFileError(f"{where}: truncated record.")
    magic, batch, length, crc = _LOG_HEADER.unpack(header)
    if magic not in (LOG_MAGIC, LOG_MAGIC_PAYLOAD_CRC):
        raise DataFileError(f"{where}: not a result record (bad magic {magic!r}).")
    # a damaged length must not allocate more than the file holds
    fits = length <= _PIECE_BYTES or offset + LOG_HEADER_SIZE + length <= os.fstat(fd).st_size
    payload = os.pread(fd, length, offset + LOG_HEADER_SIZE) if fits else b""
    if len(payload) < length:
        raise DataFileError(f"{where}: truncated record.")
    if _expected_crc(magic, header, payload) != crc:
        raise DataFileError(f"{where}: the result record of batch {batch} fails its checksum.")
    return batch, storage.loads(payload)
