"""One sowing, one identity (issue 23): a crop's files and records belong to the sowing that
made them; nothing of another sowing (a grower of a deleted crop, a twin's file copied in, a
second process sowing at once) is ever taken, and each such meeting ends in the exact
dataset or a typed error naming the file.

Each test does what a user does: grows in another process (``python script.py``), deletes a
crop with ``rm -rf`` and sows it again, copies files between project folders, starts two
sows at once, and reads the result with plain xarray.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xyzfarm as xyz
from xyzfarm.errors import (
    CropIncompleteError,
    CropLoadError,
    SowingMismatchError,
)
from xyzfarm.folder import records
from xyzfarm.folder.manifest import Manifest

MODEL = """
import os, time
import xyzfarm as xyz

@xyz.label(var_names=["y"])
def model(x, scale):
    time.sleep(float(os.environ.get("XYZ_TEST_CASE_S", "0")))
    return x * scale
"""

GROWER = """
import sys
import xyzfarm as xyz
from model import model

crop = xyz.Crop(fn=model, name="c", batchsize=5)
crop.sow_combos({"x": list(range(30))}, constants={"scale": 1})
workers = int(sys.argv[1])
print("sown", flush=True)
if workers > 1:
    crop.grow(num_workers=workers, subprocess=True, verbosity=0)
else:
    crop.grow(verbosity=0)
print("grown", flush=True)
"""


@pytest.fixture
def project(tmp_path: Path, user_module) -> Path:
    folder = user_module("model", MODEL)
    (tmp_path / "grower.py").write_text(GROWER)
    return folder


def _env(code_folder: Path, case_s: float) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(xyz.__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([str(code_folder), root, env.get("PYTHONPATH", "")])
    env["XYZ_TEST_CASE_S"] = str(case_s)
    return env


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _new_sweep_crop():
    from model import model

    return xyz.Crop(fn=model, name="c", batchsize=5)


@pytest.mark.parametrize("workers", [1, 2], ids=["in its process", "in a pool"])
def test_a_crop_deleted_and_sown_again_while_another_process_grows_it_reaps_only_its_own_values(
    project, tmp_path, workers
):
    old = subprocess.Popen(
        [sys.executable, "grower.py", str(workers)],
        env=_env(project, 0.03),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        folder = tmp_path / ".xyz-c"

        # the old grower is in the middle of it: checkpoints and results being written
        def written() -> bool:
            assert old.poll() is None, old.communicate()
            found = [*(folder / "partial").glob("*"), *(folder / "results").glob("*.log")]
            return len(found) >= 2

        _wait_for(written, 60, "the old grower to write")
        shutil.rmtree(folder)  # as `rm -rf .xyz-c`
        crop = _new_sweep_crop()
        crop.sow_combos({"x": list(range(30))}, constants={"scale": 1000})
        time.sleep(0.5)  # the old grower carries on meanwhile, as it would
        crop.grow(verbosity=0)
        ds = crop.reap()
        _, err = old.communicate(timeout=60)
    finally:
        if old.poll() is None:
            old.kill()
            old.communicate()
    np.testing.assert_array_equal(ds["y"].values, np.arange(30) * 1000)
    assert old.returncode != 0 and "CropReplacedError" in err, err[-2000:]


def _grown_twin(parent: Path, values: list[int], *, grow: bool = True):
    from model import model

    crop = xyz.Crop(fn=model, name="c", batchsize=2, parent_dir=str(parent))
    crop.sow_cases(["x"], [(v,) for v in values], constants={"scale": 1})
    if grow:
        crop.grow(verbosity=0)
    return crop


def test_a_twin_crops_cases_copied_in_is_refused_naming_the_file(project, tmp_path):
    ours = _grown_twin(tmp_path / "a", [1, 2, 3, 4], grow=False)
    ours.grow(1, verbosity=0)
    twin = _grown_twin(tmp_path / "b", [10, 20, 30, 40])
    for name in ("cases.bin", "cases.idx"):  # what `rsync b/ a/` of one file pair does
        shutil.copy(Path(twin.location) / name, Path(ours.location) / name)
    with pytest.raises((SowingMismatchError, CropLoadError), match=r"cases\.bin"):
        ours.grow(verbosity=0)
    with pytest.raises(SowingMismatchError, match=r"cases\.bin"):
        ours.reap(allow_incomplete=True)


def test_a_twin_crops_manifest_copied_in_publishes_none_of_its_coordinates(project, tmp_path):
    ours = _grown_twin(tmp_path / "a", [1, 2, 3, 4])
    twin = _grown_twin(tmp_path / "b", [10, 20, 30, 40], grow=False)
    shutil.copy(Path(twin.location) / "crop.json", Path(ours.location) / "crop.json")
    again = xyz.Crop(name="c", parent_dir=str(tmp_path / "a"))
    status = again.status()
    assert status.done == 0, status  # none of our results is the twin's
    with pytest.raises((SowingMismatchError, CropIncompleteError)):
        again.reap()


def test_a_twin_crops_result_log_copied_in_is_never_reaped(project, tmp_path):
    ours = _grown_twin(tmp_path / "a", [1, 2, 3, 4], grow=False)
    ours.grow(1, verbosity=0)
    twin = _grown_twin(tmp_path / "b", [10, 20, 30, 40])
    for log in (Path(twin.location) / "results").glob("*.log"):
        shutil.copy(log, Path(ours.location) / "results" / f"copied-{log.name}")
    assert ours.status().done == 1
    with pytest.warns(UserWarning, match="another sowing|not to this crop"):
        ds = ours.reap(allow_incomplete=True)
    got = dict(zip(ds["x"].values.tolist(), ds["y"].values.tolist()))
    assert {k: v for k, v in got.items() if not np.isnan(v)} == {1: 1, 2: 2}


SOWER = """
import os, sys, time
import xyzfarm as xyz
from model import model

start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
crop = xyz.Crop(fn=model, name="c", batchsize=7)
try:
    crop.sow_combos({"x": list(range(int(sys.argv[1]), int(sys.argv[1]) + 2000))},
                    constants={"scale": 1})
except xyz.errors.CropMismatchError as exc:
    print("refused", exc)
    sys.exit(7)
print("sown")
"""


@pytest.mark.parametrize("same", [False, True], ids=["different sweeps", "the same sweep"])
def test_two_processes_sowing_one_crop_at_once_leave_one_whole_sowing(project, tmp_path, same):
    (tmp_path / "sower.py").write_text(SOWER)
    env = _env(project, 0)
    for trial in range(4):
        start = time.time() + 1.0
        firsts = ["0", "0"] if same else ["0", "5000"]
        procs = [
            subprocess.Popen(
                [sys.executable, "sower.py", first, str(start)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for first in firsts
        ]
        outs = [p.communicate(timeout=60) for p in procs]
        codes = sorted(p.returncode for p in procs)
        if same:
            assert codes == [0, 0], outs
        else:
            assert codes == [0, 7], outs  # one wins; the other is told, typed
            assert "CropMismatchError" in outs[0][0] + outs[1][0] or "refused" in (
                outs[0][0] + outs[1][0]
            )
        sown = Manifest.read(xyz.Crop(name="c").layout)
        first = sown.decoded_combos()["x"][0]
        crop = _new_sweep_crop()
        crop.grow(verbosity=0)
        ds = crop.reap()
        np.testing.assert_array_equal(ds["y"].values, np.arange(first, first + 2000))
        assert not list(tmp_path.glob("..xyz-c.*")), "a temporary sowing folder was left"
        shutil.rmtree(tmp_path / ".xyz-c", ignore_errors=True)
        del trial


def test_a_sow_killed_midway_leaves_nothing_the_next_sow_does_not_remove(project, tmp_path):
    script = tmp_path / "big.py"
    script.write_text(
        textwrap.dedent(
            """
            import xyzfarm as xyz
            from model import model
            crop = xyz.Crop(fn=model, name="c", batchsize=1)
            crop.sow_combos({"x": list(range(300_000))}, constants={"scale": 1})
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(project, 0))
    _wait_for(lambda: list(tmp_path.glob("..xyz-c.*.tmp")), 60, "the sow to start writing")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / ".xyz-c").exists()  # nothing half-sown where a crop is looked for
    crop = _new_sweep_crop()
    crop.sow_combos({"x": list(range(10))}, constants={"scale": 3})
    assert not list(tmp_path.glob("..xyz-c.*")), "the killed sow's folder is still there"
    crop.grow(verbosity=0)
    np.testing.assert_array_equal(crop.reap()["y"].values, np.arange(10) * 3)


def _record(i: int, sowing: bytes | None) -> bytes:
    return records.frame({"out": {i: i * 10}, "prov": []}, sowing=sowing)


@pytest.mark.parametrize("sowing", [None, b"\x01" * 8], ids=["unbound", "bound"])
def test_a_checkpoint_torn_at_any_offset_loses_only_the_torn_record(tmp_path, sowing):
    first, torn, last = (_record(i, sowing) for i in range(3))
    for cut in range(len(torn)):
        path = tmp_path / "partial"
        path.write_bytes(first + torn[:cut] + last)
        got = [list(r["out"]) for r in records.read_appended(path, sowing=sowing)]
        assert got == [[0], [2]], cut


def test_checkpoint_records_of_another_sowing_are_skipped(tmp_path):
    ours, theirs = b"\x01" * 8, b"\x02" * 8
    path = tmp_path / "partial"
    path.write_bytes(_record(0, ours) + _record(1, theirs) + _record(2, None) + _record(3, ours))
    assert [list(r["out"]) for r in records.read_appended(path, sowing=ours)] == [[0], [3]]


CALLS = """
import os
import xyzfarm as xyz

@xyz.label(var_names=["y"])
def counted(x):
    with open(os.environ["XYZ_TEST_CALLS"], "a") as f:
        f.write(f"{x}\\n")
    return x * 2
"""


def test_cases_checkpointed_after_a_torn_record_are_never_computed_again(
    user_module, tmp_path, monkeypatch
):
    user_module("counting", CALLS)
    from counting import counted

    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("XYZ_TEST_CALLS", str(calls))
    crop = xyz.Crop(fn=counted, name="t", batchsize=6)
    crop.sow_combos({"x": list(range(6))})
    sowing = Manifest.read(crop.layout).sowing_id
    # a grower checkpointed cases 0-1, was killed mid-append, and a resumed one cases 2-4
    good = records.frame({"out": {0: 0, 1: 2}, "prov": []}, sowing=sowing)
    torn = records.frame({"out": {5: 999}, "prov": []}, sowing=sowing)[:-3]
    later = records.frame({"out": {2: 4, 3: 6, 4: 8}, "prov": []}, sowing=sowing)
    crop.layout.partial(1).write_bytes(good + torn + later)
    partial = crop.reap(allow_incomplete=True)
    np.testing.assert_array_equal(partial["y"].values[:5], [0, 2, 4, 6, 8])  # none hidden
    crop.grow(verbosity=0)
    assert calls.read_text().split() == ["5"]  # only the case never checkpointed
    np.testing.assert_array_equal(crop.reap()["y"].values, np.arange(6) * 2)


def test_a_crop_folder_given_as_a_link_is_resolved_once_and_said(project, tmp_path):
    from model import model

    elsewhere = tmp_path / "scratch" / ".xyz-c"
    crop = xyz.Crop(fn=model, name="c", batchsize=2, parent_dir=str(tmp_path / "scratch"))
    crop.sow_combos({"x": [1, 2, 3]}, constants={"scale": 2})
    (tmp_path / "work").mkdir()
    os.symlink(elsewhere, tmp_path / "work" / ".xyz-c")
    with pytest.warns(UserWarning, match="symbolic link"):
        linked = xyz.Crop(fn=model, name="c", parent_dir=str(tmp_path / "work"))
    assert linked.location == str(elsewhere)
    linked.grow(verbosity=0)
    np.testing.assert_array_equal(linked.reap()["y"].values, [2, 4, 6])
    assert not elsewhere.exists(), "the reap's cleanup left the crop's files behind"
