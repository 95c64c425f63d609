from __future__ import annotations

import json
import subprocess

import xyzfarm as xyz
from xyzfarm.layout import CropLayout
from xyzfarm.state import CropStatus, crop_status, last_error

CLAIM = """
import sys, time, xyzfarm.storage as s
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
    crop.layout.failed(4).write_text(
        json.dumps(
            {
                "attempts": [
                    {"attempt": 1, "error_type": "ValueError", "message": "bad", "case": {"x": "3"}}
                ]
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
