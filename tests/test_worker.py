from __future__ import annotations

import json
import subprocess

from xyzfarm import records
from xyzfarm.assemble import check_schema
from xyzfarm.layout import CropLayout
from xyzfarm.sow import sow
from xyzfarm.worker import ALREADY, BUSY, DONE, FAILED, Bundle, grow_batch


def sown(fn, combos, **kw):
    layout = CropLayout("c")
    sow(layout, fn=fn, schema=check_schema("v", None, None), combos=combos, **kw)
    return layout


def test_the_worker_module_starts_without_heavy_libraries(python, python_env):
    code = (
        "import sys, xyzfarm.worker\n"
        "heavy = ('xarray', 'h5netcdf', 'pandas', 'jinja2', 'h5py')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_growing_a_batch_publishes_its_result_and_drops_the_checkpoint():
    layout = sown(lambda x: x * 10, {"x": range(6)}, batchsize=3)
    bundle = Bundle(layout)
    assert grow_batch(bundle, 2) == DONE
    result = records.read_record_file(layout.result(2))
    assert list(result["indices"]) == [3, 4, 5] and result["outputs"] == [30, 40, 50]
    assert not layout.partial(2).exists()
    assert grow_batch(bundle, 2) == ALREADY


def test_a_batch_resumes_from_its_checkpoint_without_recomputing():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    layout = sown(fn, {"x": range(4)}, batchsize=4)
    with open(layout.partial(1), "ab") as f:
        records.append_record(f, (0, 0))
        records.append_record(f, (1, 1))
    assert grow_batch(Bundle(layout, fn, {}), 1) == DONE
    assert calls == [2, 3]
    assert records.read_record_file(layout.result(1))["outputs"] == [0, 1, 2, 3]


def test_a_failing_case_is_recorded_with_its_case_and_attempts_and_keeps_progress():
    def fn(x):
        if x == 2:
            raise ValueError("bad x")
        return x

    layout = sown(fn, {"x": range(4)}, batchsize=4)
    bundle = Bundle(layout, fn, {})
    assert grow_batch(bundle, 1) == FAILED
    assert grow_batch(bundle, 1) == FAILED
    data = json.loads(layout.failed(1).read_text())
    last = data["attempts"][-1]
    assert last["attempt"] == 2 and last["error_type"] == "ValueError"
    assert last["case"] == {"x": "2"} and "bad x" in last["traceback"]
    assert [pos for pos, _ in records.read_appended(layout.partial(1))] == [0, 1]
    assert not layout.result(1).exists()


def test_a_batch_claimed_by_another_grower_is_skipped():
    from xyzfarm import storage

    layout = sown(lambda x: x, {"x": range(2)})
    with storage.try_locked(layout.running(1)) as claimed:
        assert claimed
        assert grow_batch(Bundle(layout), 1) == BUSY


def test_the_saved_function_and_constants_are_used_when_none_is_given():
    layout = CropLayout("c")
    sow(
        layout,
        fn=lambda x, c: x + c,
        schema=check_schema("v", None, None),
        combos={"x": [1]},
        constants={"c": 100},
    )
    assert grow_batch(Bundle(layout), 1) == DONE
    assert records.read_record_file(layout.result(1))["outputs"] == [101]
