from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from damage import flip

from xyzfarm.errors import DataFileError
from xyzfarm.folder import records
from xyzfarm.store import storage


def write_log(*items):
    with open("log", "wb") as f:
        for batch, obj in items:
            f.write(records.log_frame(batch, obj))


def old_log_frame(batch, obj):
    """A result-log record as the previous release wrote it: checksum over the payload only."""
    payload = storage.dumps(obj)
    return struct.pack("<4sQQI", b"XYZb", batch, len(payload), zlib.crc32(payload)) + payload


def old_frame(obj):
    """A framed record as the previous release wrote it: checksum over the payload only."""
    payload = storage.dumps(obj)
    return struct.pack("<4sQI", b"XYZr", len(payload), zlib.crc32(payload)) + payload


def test_a_log_record_round_trips_and_is_indexed_from_its_header():
    write_log((1, {"a": np.arange(3)}), (7, "x"))
    entries, end, damaged, foreign = records.scan_log("log")
    assert [b for b, _ in entries] == [1, 7] and end == Path("log").stat().st_size
    assert damaged == [] and foreign == []
    assert list(records.read_log_record("log", entries[0][1])[1]["a"]) == [0, 1, 2]


def test_a_truncated_log_record_is_detected_without_unpickling():
    write_log((1, list(range(1000))))
    raw = Path("log").read_bytes()
    Path("log").write_bytes(raw[:-10])
    assert records.scan_log("log") == ([], 0, [], [])  # not complete: not counted, not damaged
    with pytest.raises(DataFileError, match="truncated"):
        records.read_log_record("log", 0)


def test_a_damaged_log_record_fails_its_checksum_when_scanned_and_when_read():
    write_log((1, list(range(1000))), (2, "next"))
    size_1 = len(records.log_frame(1, list(range(1000))))
    flip("log", size_1 - 5, 0xFF)
    scan = records.scan_log("log")
    # the damaged record's length still frames the next one, which counts
    assert scan.entries == [(2, size_1)] and [d[:2] for d in scan.damaged] == [(1, 0)]
    assert "log at byte 0" in scan.damaged[0][2] and "checksum" in scan.damaged[0][2]
    assert len(records.scan_log("log", verify=False).entries) == 2  # headers alone cannot tell
    with pytest.raises(DataFileError, match="checksum"):
        records.read_log_record("log", 0)
    with pytest.raises(DataFileError, match="checksum"):
        records.check_log_record("log", 0)


@pytest.mark.parametrize("field", ["batch", "length"])
def test_a_flipped_bit_in_a_log_records_header_fails_its_checksum(field):
    write_log((3, "result of batch 3"), (4, "result of batch 4"))
    position = {"batch": 4, "length": 12}[field]  # magic 4 bytes | batch 8 | length 8 | crc
    flip("log", position, 0x04)  # batch 3 -> 7; or a length 4 bytes too short
    scan = records.scan_log("log")
    assert 3 not in [b for b, _ in scan.entries] and 7 not in [b for b, _ in scan.entries]
    assert [d[0] for d in scan.damaged][:1] == [7 if field == "batch" else 3]
    with pytest.raises(DataFileError, match="checksum"):
        records.read_log_record("log", 0)


def test_a_log_whose_bytes_are_zeroed_counts_nothing_from_there_on():
    write_log((1, "a"), (2, "b"), (3, "c"))
    raw = bytearray(Path("log").read_bytes())
    second = len(records.log_frame(1, "a"))
    raw[second:] = bytes(len(raw) - second)
    Path("log").write_bytes(bytes(raw))
    scan = records.scan_log("log")
    assert scan.entries == [(1, 0)] and scan.end == len(raw) and len(scan.damaged) == 1


def test_log_records_of_the_previous_release_are_still_read():
    with open("log", "wb") as f:
        f.write(old_log_frame(1, {"v": 1}))
        f.write(records.log_frame(2, {"v": 2}))
    scan = records.scan_log("log")
    assert [b for b, _ in scan.entries] == [1, 2] and scan.damaged == []
    assert records.read_log_record("log", 0) == (1, {"v": 1})
    assert records.check_log_record("log", 0) == 1
    flip("log", 30)  # payload: the old checksum still catches it
    assert [d[0] for d in records.scan_log("log").damaged] == [1]


def test_framed_records_of_the_previous_release_are_still_read():
    Path("cases.bin").write_bytes(old_frame([1]) + old_frame([2, 3]))
    offsets = [0, len(old_frame([1])), len(old_frame([1])) + len(old_frame([2, 3]))]
    Path("cases.idx").write_bytes(struct.pack("<3Q", *offsets))
    reader = records.IndexedReader(Path("cases.bin"), Path("cases.idx"))
    assert reader.get(0) == [1] and reader.get(1) == [2, 3] and len(reader) == 2
    reader.close()
    with open("partial", "ab") as f:
        f.write(old_frame({"out": {0: 1}}))
        records.append_record(f, {"out": {1: 2}})
    assert records.read_appended("partial") == [{"out": {0: 1}}, {"out": {1: 2}}]


def test_a_flipped_bit_in_a_framed_records_length_fails_its_checksum():
    with open("partial", "ab") as f:
        records.append_record(f, {"out": {0: 0}})
        records.append_record(f, {"out": {1: 1}})
    one = len(records.frame({"out": {0: 0}}))
    flip("partial", one + 4)  # the second record's length, one less
    assert records.read_appended("partial") == [{"out": {0: 0}}]


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
    assert n == 3 == Path("cases.idx").stat().st_size // 8 - 1 == 3
    reader = records.IndexedReader(Path("cases.bin"), Path("cases.idx"))
    assert reader.get(1) == [2, 3] and reader.get(2) == [] and len(reader) == 3
    with pytest.raises(DataFileError, match="no record 7"):
        reader.get(7)
    reader.close()


def test_a_damaged_case_file_or_index_is_a_typed_error_naming_the_file():
    records.write_indexed(Path("cases.bin"), Path("cases.idx"), iter([[1], [2, 3]]))
    flip("cases.bin", 6)  # the first record's length
    reader = records.IndexedReader(Path("cases.bin"), Path("cases.idx"))
    with pytest.raises(DataFileError, match=r"cases\.bin record 0.*sow the crop again"):
        reader.get(0)
    assert reader.get(1) == [2, 3]
    flip("cases.idx", 8)  # where record 1 starts
    with pytest.raises(DataFileError, match=r"cases\.bin record 1"):
        reader.get(1)
    reader.close()
    Path("cases.idx").unlink()
    with pytest.raises(DataFileError, match=r"cases\.idx is missing"):
        records.IndexedReader(Path("cases.bin"), Path("cases.idx"))


@pytest.mark.parametrize("which", ["cases.bin", "cases.idx"])
def test_a_truncated_case_file_or_index_is_refused_when_opened(which):
    records.write_indexed(Path("cases.bin"), Path("cases.idx"), iter([[1], [2, 3], [4]]))
    raw = Path(which).read_bytes()
    Path(which).write_bytes(raw[: len(raw) - 8])
    with pytest.raises(DataFileError, match=r"cases\.idx does not index .*cases\.bin"):
        records.IndexedReader(Path("cases.bin"), Path("cases.idx"))


def test_a_damaged_length_in_a_checkpoint_costs_that_record_only_never_memory(tmp_path):
    path = tmp_path / "partial"
    with open(path, "wb") as f:
        for k in range(3):
            records.append_record(f, {"k": k})
    first = len(records.frame({"k": 0}))
    with open(path, "r+b") as f:  # the second record's length: its highest bit flipped
        f.seek(first + 4 + 7)
        f.write(b"\x80")
    # the reading resyncs at the next record: a checkpoint keeps the cases after a tear
    assert records.read_appended(path) == [{"k": 0}, {"k": 2}]


def test_a_damaged_offset_in_a_case_index_is_a_typed_error_never_memory(tmp_path):

    data, index = tmp_path / "cases.bin", tmp_path / "cases.idx"
    records.write_indexed(data, index, iter([{"rows": [1]}, {"rows": [2]}]))
    raw = bytearray(index.read_bytes())
    raw[8:16] = struct.pack("<Q", 1 << 36)  # record 0 would be 64 GB: never read
    index.write_bytes(bytes(raw))
    reader = records.IndexedReader(data, index)
    try:
        for i in (0, 1):
            with pytest.raises(DataFileError, match="damaged"):
                reader.get(i)
    finally:
        reader.close()
