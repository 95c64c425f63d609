from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xyzfarm import records
from xyzfarm.errors import DataFileError


def test_a_record_file_round_trips_and_looks_complete():
    records.write_record_file("r", {"a": np.arange(3)})
    assert records.looks_complete("r")
    assert list(records.read_record_file("r")["a"]) == [0, 1, 2]


def test_a_truncated_record_file_is_detected_without_unpickling():
    records.write_record_file("r", list(range(1000)))
    raw = Path("r").read_bytes()
    Path("r").write_bytes(raw[:-10])
    assert not records.looks_complete("r")
    with pytest.raises(DataFileError, match="truncated"):
        records.read_record_file("r")


def test_a_damaged_record_fails_its_checksum():
    records.write_record_file("r", list(range(1000)))
    raw = bytearray(Path("r").read_bytes())
    raw[-5] ^= 0xFF
    Path("r").write_bytes(bytes(raw))
    assert records.looks_complete("r")  # same size: only the checksum can tell
    with pytest.raises(DataFileError, match="checksum"):
        records.read_record_file("r")


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
    assert n == 3 == records.count_indexed(Path("cases.idx"))
    assert records.read_indexed(Path("cases.bin"), Path("cases.idx"), 1) == [2, 3]
    with pytest.raises(DataFileError):
        records.read_indexed(Path("cases.bin"), Path("cases.idx"), 7)
