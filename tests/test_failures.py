from __future__ import annotations

import json

import xyzfarm as xyz
from xyzfarm.folder.failures import FailedAttempt, last_error, read_failure, write_failure
from xyzfarm.folder.layout import CropLayout
from xyzfarm.folder.manifest import Manifest


def a_layout(name="f"):
    layout = CropLayout(name)
    layout.make_folders()
    return layout


def test_a_batch_without_a_record_reads_as_none():
    assert read_failure(a_layout(), 1) is None


def test_each_failure_is_appended_as_a_numbered_attempt():
    layout = a_layout()
    write_failure(layout, 2, error_type="ValueError", message="bad", case={"x": 1})
    second = write_failure(layout, 2, error_type="WorkerDied", message="gone", final=False)
    record = read_failure(layout, 2)
    assert record is not None and record.batch == 2
    assert [a.attempt for a in record.attempts] == [1, 2]
    assert record.attempts[0].case == {"x": 1} and record.attempts[0].final
    assert record.last == second and not record.last.final


def test_the_file_keeps_the_format_earlier_releases_wrote():
    layout = a_layout()
    write_failure(
        layout, 1, error_type="Timeout", message="late", traceback=None, restart_count="2"
    )
    raw = json.loads(layout.failed(1).read_text())
    assert raw["batch"] == 1
    (attempt,) = raw["attempts"]
    assert list(attempt)[:9] == [
        "attempt",
        "final",
        "host",
        "pid",
        "time",
        "error_type",
        "message",
        "traceback",
        "case",
    ]
    assert attempt["restart_count"] == "2"  # a detail is kept beside the named fields


def test_a_record_of_an_earlier_release_reads_with_defaults_and_keeps_unknown_keys():
    layout = a_layout()
    layout.failed(1).write_text(
        json.dumps({"attempts": [{"error_type": "KeyError", "message": "'q'", "newer": [1]}]})
    )
    record = read_failure(layout, 1)
    assert record is not None
    assert record.last == FailedAttempt(
        attempt=1, error_type="KeyError", message="'q'", details={"newer": [1]}
    )
    write_failure(layout, 1, error_type="ValueError", message="again")
    kept = json.loads(layout.failed(1).read_text())["attempts"][0]
    assert kept["newer"] == [1] and kept["attempt"] == 1


def test_an_unreadable_record_counts_as_none_and_is_rewritten_by_the_next_failure():
    layout = a_layout()
    layout.failed(1).write_text('{"attempts": [')
    assert read_failure(layout, 1) is None
    assert last_error(layout, 1) == "no error recorded"
    write_failure(layout, 1, error_type="ValueError", message="bad")
    assert last_error(layout, 1) == "ValueError: bad (attempt 1)"


def test_a_failing_case_is_recorded_by_the_worker_and_read_back_typed():
    def fn(x):
        if x == 2:
            raise ValueError("two")
        return x

    crop = xyz.Runner(fn, "y").Crop(name="fails", batchsize=1)
    crop.sow_combos({"x": range(3)})
    crop.grow(verbosity=0)
    record = read_failure(crop.layout, 3, sowing=Manifest.read(crop.layout).sowing_id)
    assert record is not None
    last = record.last
    assert (last.error_type, last.message, last.case) == ("ValueError", "two", {"x": 2})
    assert last.details["case_position"] == 0 and "ValueError: two" in str(last.traceback)
    assert crop.status().last_error(3) == "ValueError: two at case {'x': 2} (attempt 1)"
