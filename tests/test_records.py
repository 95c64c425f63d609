from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xyzfarm import records
from xyzfarm.errors import DataFileError


def write_log(*items):
    with open("log", "wb") as f:
        for batch, obj in items:
            f.write(records.log_frame(batch, obj))


def test_a_log_record_round_trips_and_is_indexed_from_its_header():
    write_log((1, {"a": np.arange(3)}), (7, "x"))
    entries, end = records.scan_log("log")
    assert [b for b, _ in entries] == [1, 7] and end == Path("log").stat().st_size
    assert list(records.read_log_record("log", entries[0][1])[1]["a"]) == [0, 1, 2]


def test_a_truncated_log_record_is_detected_without_unpickling():
    write_log((1, list(range(1000))))
    raw = Path("log").read_bytes()
    Path("log").write_bytes(raw[:-10])
    assert records.scan_log("log") == ([], 0)  # not complete: not counted
    with pytest.raises(DataFileError, match="truncated"):
        records.read_log_record("log", 0)


def test_a_damaged_log_record_fails_its_checksum():
    write_log((1, list(range(1000))))
    raw = bytearray(Path("log").read_bytes())
    raw[-5] ^= 0xFF
    Path("log").write_bytes(bytes(raw))
    assert len(records.scan_log("log")[0]) == 1  # same size: only the checksum can tell
    with pytest.raises(DataFileError, match="checksum"):
        records.read_log_record("log", 0)


def test_appended_records_survive_a_torn_last_write():
    with open("log", "ab") as f:
        for i in range(3):
            records.append_record(f, (i, i * i))
    with open("log", "ab") as f:
        f.write(records.frame((3, 9))[:-2])  # killed mid-append
    assert records.read_appended("log") == [(0, 0), (1, 1), (2, 4)]
    assert records.read_appended("no-such-file") == []


def test_indexed_records_are_read_one_at_a_time():
    n = records.write_indexed(Path("cases.bin"), Path("cases.idx"), iter([[1], [2, 3], []]))
    assert n == 3 == Path("cases.idx").stat().st_size // 8 - 1
    reader = records.IndexedReader(Path("cases.bin"), Path("cases.idx"))
    assert reader.get(1) == [2, 3] and reader.get(2) == []
    with pytest.raises(DataFileError):
        reader.get(7)
    reader.close()
