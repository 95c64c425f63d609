from __future__ import annotations

import json
import subprocess

from damage import flip, result_records

import xyzfarm as xyz
from xyzfarm.folder import records
from xyzfarm.folder.failures import last_error
from xyzfarm.folder.layout import CropLayout
from xyzfarm.folder.manifest import Manifest
from xyzfarm.folder.results import done_map_name
from xyzfarm.folder.state import CropStatus, crop_status

CLAIM = """
import sys, time, xyzfarm.store.record_locks as s
locks = s.record_locks(sys.argv[1])
assert locks.try_lock(3)
print("claimed", flush=True)
time.sleep(60)
"""


def test_an_unsown_crop_has_an_empty_status():
    assert crop_status(CropLayout("nothing")) == CropStatus(0, 0, 0, 0, 0)


def test_each_batch_is_counted_once_by_state(python, python_env):
    crop = xyz.Runner(lambda x: x, "y").Crop(name="st", batchsize=1)
    crop.sow_combos({"x": range(5)})
    crop.grow(batch_ids=[1, 2], verbosity=0)
    # as a grower of this crop records a failure: with the crop's sowing
    crop.layout.failed(4).write_text(
        json.dumps(
            {
                "sowing": Manifest.read(crop.layout).sowing,
                "attempts": [
                    {"attempt": 1, "error_type": "ValueError", "message": "bad", "case": {"x": "3"}}
                ],
            }
        )
    )
    other = subprocess.Popen(
        [python, "-c", CLAIM, str(crop.layout.running_locks)],
        env=python_env,
        stdout=subprocess.PIPE,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == b"claimed"
        state = crop_status(crop.layout)
    finally:
        other.kill()
        other.wait()
    assert (state.total, state.done, state.running, state.failed, state.missing) == (5, 2, 1, 1, 1)
    assert state.failed_ids == (4,)
    assert str(state) == "2/5 done, 1 failed, 1 running, 1 missing"


def test_the_last_error_is_one_line_with_its_case_and_attempt():
    layout = CropLayout("e")
    layout.make_folders()
    assert last_error(layout, 1) == "no error recorded"
    layout.failed(1).write_text(
        json.dumps(
            {
                "attempts": [
                    {"attempt": 2, "error_type": "KeyError", "message": "'q'", "case": {"x": "1"}}
                ]
            }
        )
    )
    assert last_error(layout, 1) == "KeyError: 'q' at case {'x': '1'} (attempt 2)"


def grown_crop(name="dmg", n=12):
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name=name, batchsize=1)
    crop.sow_combos({"x": range(n)})
    crop.grow(verbosity=0)
    return crop


def test_a_batch_whose_only_result_fails_its_checksum_is_damaged_not_done():
    crop = grown_crop()
    log, offset, length = result_records(crop.layout)[3]
    flip(log, offset + length - 2)  # one payload byte: same size, only the checksum can tell
    state = crop_status(crop.layout)
    assert (state.done, state.damaged, state.damaged_ids, state.missing) == (11, 1, (3,), 0)
    assert str(state) == "11/12 done, 0 failed, 0 running, 0 missing, 1 damaged"
    assert not (crop.layout.folder("results") / "damaged").exists()  # status writes nothing


def test_a_result_whose_header_says_another_batch_counts_for_neither():
    crop = grown_crop()
    log, offset, _ = result_records(crop.layout)[3]
    # the batch id, after the magic and the sowing id: 3 -> 7
    flip(log, offset + 4 + records.SOWING_BYTES, 0x04)
    state = crop_status(crop.layout)
    assert (state.done, state.missing, state.damaged) == (11, 1, 0)  # 7 has its own result


def test_a_status_keeps_its_old_positional_form_and_text_when_nothing_is_damaged():
    state = CropStatus(4, 2, 1, 0, 1, (3,))
    assert (state.damaged, state.damaged_ids) == (0, ())
    assert str(state) == "2/4 done, 1 failed, 0 running, 1 missing"


def test_a_status_reads_the_logs_and_writes_no_done_map():
    crop = xyz.Runner(lambda x: x, "y").Crop(name="s", batchsize=1)
    crop.sow_combos({"x": range(3)})
    crop.grow(verbosity=0)
    done_map = crop.layout.folder("results") / done_map_name(Manifest.read(crop.layout).sowing_id)
    done_map.unlink()
    assert crop.status().done == 3 and not done_map.exists()
