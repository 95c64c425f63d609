from __future__ import annotations

import pytest

from xyzfarm import records
from xyzfarm.layout import CropLayout
from xyzfarm.results import ResultIndex, ResultWriter


@pytest.fixture
def layout():
    lay = CropLayout("r")
    lay.make_folders()
    return lay


def test_an_index_reads_only_what_was_appended_since_its_last_refresh(layout):
    writer = ResultWriter(layout)
    index = ResultIndex(layout).refresh()
    assert index.done() == set()
    writer.append(1, {"v": 1})
    writer.append(2, {"v": 2})
    assert index.refresh().done() == {1, 2}
    writer.append(3, {"v": 3})
    assert index.refresh().done() == {1, 2, 3} and index.load(3) == {"v": 3}


def test_each_writer_has_its_own_log(layout):
    ResultWriter(layout).append(1, "a")
    ResultWriter(layout).append(2, "b")
    assert len(list(layout.folder("results").glob("*.log"))) == 2
    assert ResultIndex(layout).refresh().done() == {1, 2}


def test_a_torn_tail_is_not_done_until_it_is_complete(layout):
    writer = ResultWriter(layout)
    writer.append(1, "whole")
    (log,) = layout.folder("results").glob("*.log")
    with open(log, "ab") as f:
        f.write(records.log_frame(2, "torn")[:-3])
    assert ResultIndex(layout).refresh().done() == {1}


def test_a_damaged_record_is_noted_and_its_batch_is_missing(layout):
    ResultWriter(layout).append(1, "x" * 100)
    (log,) = layout.folder("results").glob("*.log")
    raw = bytearray(log.read_bytes())
    raw[-2] ^= 0xFF
    log.write_bytes(bytes(raw))
    index = ResultIndex(layout).refresh()
    with pytest.warns(UserWarning, match="checksum"), pytest.raises(KeyError):
        index.load(1)
    assert ResultIndex(layout).refresh().done() == set()  # remembered in results/damaged


def test_a_batch_grown_twice_is_read_from_its_first_intact_record(layout):
    ResultWriter(layout).append(1, "first")
    ResultWriter(layout).append(1, "second")
    assert ResultIndex(layout).refresh().load(1) in {"first", "second"}
