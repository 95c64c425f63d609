from __future__ import annotations

import struct
import zlib

import pytest
from damage import flip

from xyzfarm.errors import DataFileError
from xyzfarm.folder import records
from xyzfarm.folder.layout import CropLayout
from xyzfarm.folder.result_checks import verify_result
from xyzfarm.folder.results import (
    DAMAGED,
    DoneMap,
    ResultIndex,
    ResultWriter,
    done_map_name,
)
from xyzfarm.store import storage

SIZE = 2  # cases per batch of the crop below
#: the sowing id of the crop below, carried by every record of it as by a crop sown today
SOWING = bytes.fromhex("5eed0123456789ab")


def sown_crop(sowing):
    """A crop folder of 4 batches of 2 cases each, its records bound to ``sowing`` (inputs
    only; results are written by tests)."""
    lay = CropLayout("r")
    lay.make_folders()
    specs = ({"indices": range(SIZE * k, SIZE * k + SIZE), "rows": []} for k in range(4))
    records.write_indexed(lay.cases, lay.cases_index, specs, sowing=sowing)
    return lay


@pytest.fixture
def layout():
    """The crop as sown today."""
    return sown_crop(SOWING)


@pytest.fixture
def legacy_layout():
    """The crop as a release before sowing ids sowed it: its records bound to no sowing."""
    return sown_crop(None)


def result(batch, tag="v"):
    """What a grower writes for ``batch`` of the crop above."""
    indices = range(SIZE * (batch - 1), SIZE * batch)
    return {"indices": indices, "outputs": [f"{tag}{i}" for i in indices], "prov": []}


def the_log(layout):
    (log,) = layout.folder("results").glob("*.log")
    return log


def test_an_index_reads_only_what_was_appended_since_its_last_refresh(layout):
    writer = ResultWriter(layout, sowing=SOWING)
    index = ResultIndex(layout, sowing=SOWING).refresh()
    assert index.done() == set()
    writer.append(1, result(1))
    writer.append(2, result(2))
    assert index.refresh().done() == {1, 2}
    writer.append(3, result(3))
    assert index.refresh().done() == {1, 2, 3} and index.load(3) == result(3)


def test_each_writer_has_its_own_log(layout):
    ResultWriter(layout, sowing=SOWING).append(1, result(1))
    ResultWriter(layout, sowing=SOWING).append(2, result(2))
    assert len(list(layout.folder("results").glob("*.log"))) == 2
    assert ResultIndex(layout, sowing=SOWING).refresh().done() == {1, 2}


def test_a_torn_tail_is_not_done_until_it_is_complete(layout):
    writer = ResultWriter(layout, sowing=SOWING)
    writer.append(1, result(1))
    with open(the_log(layout), "ab") as f:
        f.write(records.log_frame(2, result(2), sowing=SOWING)[:-3])
    index = ResultIndex(layout, sowing=SOWING).refresh()
    assert index.done() == {1} and index.damaged() == set()


def test_a_damaged_record_is_noted_and_its_batch_is_missing(layout):
    ResultWriter(layout, sowing=SOWING).append(1, result(1))
    flip(the_log(layout), -2, 0xFF)
    with pytest.warns(UserWarning, match="at byte 0.*checksum"):
        index = ResultIndex(layout, sowing=SOWING).refresh()
    assert index.done() == set() and index.damaged() == {1}
    with pytest.raises(KeyError):
        index.load(1)
    assert (
        ResultIndex(layout, sowing=SOWING).refresh().done() == set()
    )  # remembered in results/damaged
    assert (layout.folder("results") / DAMAGED).read_text() == f"{the_log(layout).name} 0\n"


def test_a_status_reading_verifies_every_record_silently_and_writes_nothing(layout, recwarn):
    ResultWriter(layout, sowing=SOWING).append(1, result(1))
    ResultWriter(layout, sowing=SOWING).append(2, result(2))
    flip(sorted(layout.folder("results").glob("*.log"))[0], -2)
    index = ResultIndex(layout, report=False, sowing=SOWING).refresh()
    assert len(index.done()) == 1 and len(index.damaged()) == 1
    assert not [w for w in recwarn.list if issubclass(w.category, UserWarning)]
    assert not (layout.folder("results") / DAMAGED).exists()


def test_a_flipped_batch_id_in_a_header_fails_its_checksum_and_the_batch_is_missing(layout):
    writer = ResultWriter(layout, sowing=SOWING)
    for batch in (1, 2, 3, 4):
        writer.append(batch, result(batch))
    offset_3 = 2 * len(records.log_frame(1, result(1), sowing=SOWING))
    # batch 3 -> 7: the batch id follows the magic and the sowing id in the header
    flip(the_log(layout), offset_3 + 4 + records.SOWING_BYTES, 0x04)
    with pytest.warns(UserWarning, match="batch 7 fails its checksum"):
        index = ResultIndex(layout, sowing=SOWING).refresh()
    assert index.done() == {1, 2, 4}  # 3 is missing, and its record counts for no one


def test_a_lazy_index_checks_a_batchs_records_only_when_asked(layout):
    ResultWriter(layout, sowing=SOWING).append(1, result(1))
    ResultWriter(layout, sowing=SOWING).append(2, result(2))
    damaged_log = sorted(layout.folder("results").glob("*.log"))[0]
    flip(damaged_log, -2)
    index = ResultIndex(layout, report=False, lazy=True, sowing=SOWING).refresh()
    assert sorted(b for b in (1, 2) if index.has(b)) in ([1], [2])
    assert len(index.done()) == 1 and len(index.damaged()) == 1


def old_log_frame(batch, obj):
    payload = storage.dumps(obj)
    return struct.pack("<4sQQI", b"XYZb", batch, len(payload), zlib.crc32(payload)) + payload


def test_a_record_of_the_previous_release_whose_batch_id_was_flipped_is_refused_when_read(
    legacy_layout,
):
    log = legacy_layout.folder("results") / "old.log"
    # batch 3's result with its header saying 7 (the old checksum does not cover it), then 4's
    log.write_bytes(old_log_frame(7, result(3)) + old_log_frame(4, result(4)))
    index = ResultIndex(legacy_layout).refresh()
    warned = pytest.warns(UserWarning, match=r"claims batch 7, but the crop has batches 1\.\.4")
    with warned, pytest.raises(KeyError):
        index.load(7)
    assert index.load(4) == result(4)
    log.unlink()
    other = legacy_layout.folder("results") / "other.log"
    other.write_bytes(old_log_frame(4, result(3)))  # in range, but the wrong cases
    index = ResultIndex(legacy_layout).refresh()
    warned = pytest.warns(UserWarning, match=r"holds 2 cases \[4, 5\], but batch 4 was sown")
    with warned, pytest.raises(KeyError):
        index.load(4)
    assert ResultIndex(legacy_layout, report=False).refresh().damaged() == {4}


def test_a_result_must_hold_exactly_its_batchs_sown_cases():
    sown = range(4, 6)
    verify_result({"indices": range(4, 6), "outputs": [1, 2]}, 3, sown, 4, "here")
    verify_result({"indices": [4, 5], "outputs": [1, 2], "prov": [([1, 0], 0, 0)]}, 3, sown, 4, "")
    bad = [
        ({"indices": range(4, 6), "outputs": [1, 2]}, 0, "claims batch 0"),
        ({"indices": range(4, 6), "outputs": [1, 2]}, 5, "claims batch 5"),
        ("not a dict", 3, "not a batch result"),
        ({"indices": [4, 6], "outputs": [1, 2]}, 3, "holds 2 cases"),
        ({"indices": [4], "outputs": [1]}, 3, "holds 1 cases"),
        ({"indices": [4, 5], "outputs": [1]}, 3, "1 outputs for its 2 cases"),
        ({"indices": [4, 5], "outputs": [1, 2], "prov": [([2], 0, 0)]}, 3, "positions outside"),
    ]
    for res, batch, message in bad:
        with pytest.raises(DataFileError, match=message):
            verify_result(res, batch, sown, 4, "here")


def test_provenance_positions_given_as_ranges_are_checked_as_strictly_as_lists():
    sown = range(4, 8)
    ok = {"indices": sown, "outputs": [1, 2, 3, 4], "prov": [(range(2, 4), 0, 0), (range(2), 0, 0)]}
    verify_result(ok, 3, sown, 4, "here")
    bad = [
        ([(range(0, 3), 0, 0), (range(2, 4), 0, 0)], "a case position twice"),
        ([(range(3, 5), 0, 0)], "positions outside its 4 cases"),
        ([(range(-1, 2), 0, 0)], "positions outside its 4 cases"),
        ([(range(0, 2), 0, 0), ([1], 0, 0)], "a case position twice"),
    ]
    for prov, message in bad:
        with pytest.raises(DataFileError, match=message):
            verify_result({**ok, "prov": prov}, 3, sown, 4, "here")


def test_loading_needs_the_crops_case_files_to_check_a_result(layout):
    ResultWriter(layout, sowing=SOWING).append(1, result(1))
    layout.cases.unlink()
    with pytest.raises(DataFileError, match=r"cases\.bin is missing"):
        ResultIndex(layout, sowing=SOWING).refresh().load(1)


def test_a_batch_grown_twice_is_read_from_its_first_intact_record(layout):
    ResultWriter(layout, sowing=SOWING).append(1, result(1, "first"))
    ResultWriter(layout, sowing=SOWING).append(1, result(1, "second"))
    assert ResultIndex(layout, sowing=SOWING).refresh().load(1) in (
        result(1, "first"),
        result(1, "second"),
    )


def test_syncing_the_done_map_marks_done_batches_and_clears_those_without_an_intact_record(
    layout,
):
    writer = ResultWriter(layout, sowing=SOWING)
    writer.append(1, result(1))
    writer.append(2, result(2))
    done_map = DoneMap.open(layout, sowing=SOWING)  # made from the logs: 1 and 2
    assert [done_map.is_set(b) for b in (1, 2, 3, 4)] == [True, True, False, False]
    done_map.set(4)  # a byte without a record (a damaged or stale map)
    flip(the_log(layout), the_log(layout).stat().st_size - 3)  # batch 2's payload
    with pytest.warns(UserWarning, match="batch 2"):
        ResultIndex(layout, sowing=SOWING).refresh().sync_done_map(4)
    assert [done_map.is_set(b) for b in (1, 2, 3, 4)] == [True, False, False, False]


def test_a_missing_done_map_is_made_once_and_never_replaced(layout):
    ResultWriter(layout, sowing=SOWING).append(3, result(3))
    first = DoneMap.open(layout, sowing=SOWING)
    again = DoneMap.open(layout, sowing=SOWING)  # the map exists: opened, not made again
    first.set(1)
    assert again.is_set(1) and again.is_set(3) and not again.is_set(2)
    names = {p.name for p in layout.folder("results").iterdir()}
    assert done_map_name(SOWING) in names and not any(n.endswith(".tmp") for n in names)


def test_a_batch_id_flipped_to_billions_never_sizes_the_done_map(layout):
    writer = ResultWriter(layout, sowing=SOWING)
    writer.append(1, result(1))
    log = the_log(layout)
    with open(log, "ab") as f:  # a record whose header claims batch 2^31 (not checked yet)
        f.write(records.log_frame(1 << 31, result(2), sowing=SOWING))
    done_map = DoneMap.open(layout, ResultIndex(layout, report=False, lazy=True, sowing=SOWING))
    done_map.close()
    assert (layout.folder("results") / done_map_name(SOWING)).stat().st_size <= 4  # 4 planned
