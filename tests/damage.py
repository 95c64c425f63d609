"""Helpers the tests share to damage crop files the way disks and bugs do."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def flip(path: Any, position: int, mask: int = 0x01) -> None:
    """Flip the bits ``mask`` of the byte at ``position`` of the file ``path``."""
    raw = bytearray(Path(path).read_bytes())
    raw[position] ^= mask
    Path(path).write_bytes(bytes(raw))


def result_records(layout: Any) -> dict[int, tuple[Path, int, int]]:
    """``{batch: (log, offset, length)}`` of a crop's result records (one log), by header."""
    from xyzfarm.folder import records
    from xyzfarm.folder.manifest import Manifest

    (log,) = layout.folder("results").glob("*.log")
    # the records of the crop's own sowing: a scan for another (None included) finds none
    entries = records.scan_log(log, sowing=Manifest.read(layout).sowing_id).entries
    ends = [offset for _, offset in entries[1:]] + [log.stat().st_size]
    return {b: (log, offset, end - offset) for (b, offset), end in zip(entries, ends)}
