from __future__ import annotations

import concurrent.futures as cf
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import psutil
import pytest
import xarray as xr
from damage import flip, result_records

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.errors import BatchFailedError, InvalidInputError


def square(x):
    return x * x


def make_crop(name="sq", n=12, batchsize=3):
    runner = xyz.Runner(square, "y")
    crop = runner.Crop(name=name, batchsize=batchsize)
    crop.sow_combos({"x": range(n)})
    return runner, crop


def test_growing_in_process_serially_finishes_every_batch():
    _, crop = make_crop()
    state = crop.grow(verbosity=0)
    assert (state.done, state.missing) == (4, 0)


def test_growing_only_some_batches_leaves_the_rest_missing():
    _, crop = make_crop()
    state = crop.grow(batch_ids=[1, 3], verbosity=0)
    assert state.done == 2 and crop.missing_results() == (2, 4)
    with pytest.raises(InvalidInputError, match="99"):
        crop.grow(batch_ids=[99])


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_growing_through_an_executor_gives_the_same_results(kind):
    runner, crop = make_crop()
    pool = cf.ThreadPoolExecutor(2) if kind == "thread" else cf.ProcessPoolExecutor(2)
    with pool:
        crop.grow(executor=pool, verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos({"x": range(12)}, verbosity=0)
    )


def test_growing_through_a_submitit_local_executor_works(tmp_path, user_module, monkeypatch):
    submitit = pytest.importorskip("submitit")  # an optional extra: [submitit]

    folder = user_module("sqmod", "def square(x):\n    return x * x\n")
    import sqmod

    # submitit starts a fresh interpreter: the function's module must be importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), *sys.path]))
    crop = xyz.Crop(fn=sqmod.square, name="sq", batchsize=2)
    crop.sow_combos({"x": range(4)})
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=1)
    crop.grow(executor=executor, verbosity=0)
    assert crop.status().done == 2


def test_pinning_options_need_subprocesses():
    _, crop = make_crop()
    with pytest.raises(InvalidInputError, match="subprocess"):
        crop.grow(subprocess=False, num_threads=1)


def failing(x):
    if x == 5:
        raise RuntimeError("five")
    return x


def test_raise_errors_stops_at_a_failed_batch_naming_the_error():
    crop = xyz.Crop(fn=failing, name="f", batchsize=2)
    crop.sow_combos({"x": range(8)})
    with pytest.raises(BatchFailedError, match="RuntimeError: five"):
        crop.grow(raise_errors=True, verbosity=0)


def test_growing_and_reaping_leave_the_garbage_collector_as_they_found_it():
    import gc

    crop = xyz.Crop(fn=failing, name="f", batchsize=2)
    crop.sow_combos({"x": range(8)})
    with pytest.raises(BatchFailedError):
        crop.grow(raise_errors=True, verbosity=0)
    assert gc.isenabled()
    gc.disable()
    try:
        crop.grow(verbosity=0)
        assert not gc.isenabled()
    finally:
        gc.enable()
    runner, crop = make_crop(name="gc")
    crop.grow(verbosity=0)
    crop.reap()
    assert gc.isenabled() and runner.last_ds["y"].values.tolist() == [x * x for x in range(12)]


def test_without_raise_errors_the_other_batches_complete():
    crop = xyz.Crop(fn=failing, name="f", batchsize=2)
    crop.sow_combos({"x": range(8)})
    state = crop.grow(verbosity=0)
    assert (state.done, state.failed, state.failed_ids) == (3, 1, (3,))


SLOW = """
import os, time
def slow(x):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write(f"{x}\\n")
    time.sleep(0.025)  # longer than the checkpoint interval: every case is flushed
    return x * 2.0
"""

GROWER = """
import sys, xyzfarm as xyz
crop = xyz.Crop(name="kill", parent_dir=sys.argv[1])
crop.grow(num_workers=2, num_threads=1, verbosity=0)
"""


@pytest.mark.slow
def test_kill_9_of_workers_and_parent_at_random_moments_loses_and_repeats_nothing(
    user_module, tmp_path, monkeypatch, python
):
    folder = user_module("slowmod", SLOW)
    import slowmod

    calls = tmp_path / "calls.log"
    monkeypatch.setenv("CALLS_LOG", str(calls))
    n = 400
    runner = xyz.Runner(slowmod.slow, "y")
    crop = xyz.Crop(farmer=runner, name="kill", parent_dir=tmp_path, batchsize=5)
    crop.sow_combos({"x": range(n)})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    rng = random.Random(1)
    kills = trials = 0
    while crop.status().done < crop.num_sown_batches and trials < 10:
        trials += 1
        grower = subprocess.Popen([python, "-c", GROWER, str(tmp_path)], env=env)
        for _ in range(rng.randint(0, 2)):  # some workers die; the pool replaces them
            time.sleep(rng.uniform(0.1, 0.4))
            children = psutil.Process(grower.pid).children() if grower.poll() is None else []
            if children:
                os.kill(rng.choice(children).pid, signal.SIGKILL)
                kills += 1
        time.sleep(rng.uniform(0.1, 0.5))
        if grower.poll() is None:  # then the parent dies, and its workers with it
            children = psutil.Process(grower.pid).children()
            grower.send_signal(signal.SIGKILL)
            kills += 1 + len(children)
            _, alive = psutil.wait_procs(children, timeout=10)
            assert not alive  # no orphan keeps growing behind the next grower's back
        grower.wait(timeout=120)
    crop.grow(num_workers=2, num_threads=1, verbosity=0)  # resume whatever is left
    assert kills >= 3
    counts = Counter(int(line) for line in calls.read_text().split())
    ds = crop.reap()
    expected = xr.Dataset({"y": ("x", np.arange(n) * 2.0)}, coords={"x": np.arange(n)})
    xr.testing.assert_identical(without_provenance(ds), expected)
    assert set(counts) == set(range(n))  # nothing lost
    repeated = sum(c - 1 for c in counts.values())
    print(f"kill -9: {trials} trials, {kills} killed, {n} cases, 0 lost, {repeated} repeated")
    assert repeated <= kills  # at most the case in flight of each killed worker


WRITE_LIMITED = """
import resource, signal, sys
import numpy as np
import xyzfarm as xyz
from xyzfarm.folder.results import ResultWriteError
def big(x):
    return np.full(50_000, float(x))
runner = xyz.Runner(big, "v", var_dims={"v": ["i"]})
crop = xyz.Crop(farmer=runner, name="full", parent_dir=sys.argv[1])
crop.sow_combos({"x": range(4)}, batchsize=1)
# a disk that fills up: files may not grow past 600 kB from now on (EFBIG, not a kill)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))
try:
    crop.grow(verbosity=0)
except ResultWriteError as exc:
    print("ERROR", exc)
    sys.exit(3)
"""


def test_a_full_disk_mid_grow_gives_a_clear_error_and_no_partial_result(
    tmp_path, python, python_env
):
    out = subprocess.run(
        [python, "-c", WRITE_LIMITED, str(tmp_path)], env=python_env, capture_output=True, text=True
    )
    assert out.returncode == 3, out.stderr
    assert "could not write a result" in out.stdout and "File too large" in out.stdout
    crop = xyz.Crop(name="full", parent_dir=tmp_path)
    state = crop.status()
    assert 0 < state.done < 4  # the results written before the disk filled are intact
    crop.grow(verbosity=0)  # with space again, growing finishes the crop
    assert crop.status().done == 4


FLAKY = """
import os
from pathlib import Path
def flaky(x):
    marker = Path(os.environ["FLAKY_DIR"]) / f"tried-{x}"
    if x == 3 and not marker.exists():
        marker.write_text("once")
        raise RuntimeError("first attempt fails")
    return x * 1.0
def broken(x):
    if x == 3:
        raise RuntimeError("always")
    return x * 1.0
"""


def test_retries_grow_a_batch_that_failed_once(user_module, tmp_path, monkeypatch):
    user_module("flakymod", FLAKY)
    import flakymod

    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    crop = xyz.Runner(flakymod.flaky, "y").Crop(name="flaky", batchsize=2)
    crop.sow_combos({"x": range(6)})
    state = crop.grow(retries=1, raise_errors=True, verbosity=0)
    assert state.done == 3 and state.failed == 0
    assert not crop.layout.failed(2).exists()  # success clears the failure record


def test_a_batch_that_keeps_failing_reports_every_attempt_and_the_rest_completes(user_module):
    user_module("brokenmod", FLAKY)
    import brokenmod

    crop = xyz.Runner(brokenmod.broken, "y").Crop(name="broken", batchsize=2)
    crop.sow_combos({"x": range(6)})
    state = crop.grow(retries=2, verbosity=0)
    assert (state.done, state.failed, state.failed_ids) == (2, 1, (2,))
    attempts = json.loads(crop.layout.failed(2).read_text())["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["message"] == "always" for a in attempts)
    with pytest.raises(BatchFailedError):
        crop.grow(retries=1, raise_errors=True, verbosity=0)


def twelve_cases():
    runner = xyz.Runner(square, "y")
    crop = runner.Crop(name="flip", batchsize=1)
    crop.sow_combos({"x": range(12)})
    return runner, crop


def reaped_equals_run_combos(runner, crop):
    expected = runner.run_combos({"x": range(12)}, verbosity=0)
    xr.testing.assert_identical(without_provenance(crop.reap()), expected)


@pytest.mark.parametrize("subprocess", [False, True])
def test_a_flipped_payload_byte_is_damaged_in_status_grown_again_and_reaped_whole(subprocess):
    runner, crop = twelve_cases()
    crop.grow(verbosity=0)
    log, offset, length = result_records(crop.layout)[5]
    flip(log, offset + length - 3)
    state = crop.status()
    assert (state.done, state.damaged, state.damaged_ids) == (11, 1, (5,))
    with pytest.warns(UserWarning, match="batch 5 fails its checksum"):
        assert crop.missing_results() == (5,)  # reported once, and listed in results/damaged
    state = crop.grow_missing(subprocess=subprocess, num_workers=1, verbosity=0)
    assert (state.done, state.damaged) == (12, 0)
    reaped_equals_run_combos(runner, crop)


def test_a_flipped_batch_id_in_a_result_header_never_publishes_a_wrong_or_missing_cell():
    from xyzfarm.errors import CropIncompleteError
    from xyzfarm.folder import records

    runner, crop = twelve_cases()
    crop.grow(batch_ids=[b for b in range(1, 13) if b != 7], verbosity=0)
    log, offset, length = result_records(crop.layout)[3]
    with open(log, "ab") as f:  # batch 3 grown twice: its second record's header says 7
        f.write(log.read_bytes()[offset : offset + length])
    # the header's batch id, after its magic and sowing id
    flip(log, log.stat().st_size - length + 4 + records.SOWING_BYTES, 0x04)
    state = crop.status()
    assert (state.done, state.damaged, state.damaged_ids, state.missing) == (11, 1, (7,), 0)
    warned = pytest.warns(UserWarning, match="batch 7 fails its checksum")
    with warned, pytest.raises(CropIncompleteError, match="1 of 12"):
        crop.reap()
    assert crop.is_prepared()  # nothing published, nothing deleted
    crop.grow_missing(verbosity=0)
    reaped_equals_run_combos(runner, crop)


def as_previous_release(crop):
    """Rewrite a crop's manifest, case file, result logs and done map as the previous release
    wrote them.

    Its records had their checksum over the payload only (magics ``XYZr`` and ``XYZb``) and
    carried no sowing id, nor did its manifest (format version 1) or its done map's name.
    """
    import dataclasses
    import struct
    import zlib

    from xyzfarm.folder import records
    from xyzfarm.folder.manifest import Manifest
    from xyzfarm.folder.results import done_map_name
    from xyzfarm.store import storage

    layout = crop.layout
    sown = Manifest.read(layout)
    sowing = sown.sowing_id
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=sowing)
    frames = []
    for i in range(len(reader)):
        payload = storage.dumps(reader.get(i))
        frames.append(struct.pack("<4sQI", b"XYZr", len(payload), zlib.crc32(payload)) + payload)
    reader.close()
    layout.cases.write_bytes(b"".join(frames))
    offsets = [sum(len(f) for f in frames[:k]) for k in range(len(frames) + 1)]
    layout.cases_index.write_bytes(struct.pack(f"<{len(offsets)}Q", *offsets))
    for log in layout.folder("results").glob("*.log"):
        old = b""
        for batch, offset in records.scan_log(log, sowing=sowing).entries:
            payload = storage.dumps(records.read_log_record(log, offset, sowing=sowing)[1])
            old += struct.pack("<4sQQI", b"XYZb", batch, len(payload), zlib.crc32(payload))
            old += payload
        log.write_bytes(old)
    done_map = layout.folder("results") / done_map_name(sowing)
    if done_map.exists():
        done_map.rename(done_map.with_name(done_map_name(None)))
    # last, as sowing does: it is the manifest without a sowing id that makes a crop legacy
    dataclasses.replace(sown, sowing=None, format_version=1).write(layout)


def test_a_crop_sown_and_grown_by_the_previous_release_grows_and_reaps():
    runner, crop = twelve_cases()
    crop.grow(batch_ids=range(1, 7), verbosity=0)
    as_previous_release(crop)
    assert crop.status().done == 6
    crop.grow_missing(verbosity=0)  # reads the old case file, appends new-format records
    assert crop.status().done == 12
    reaped_equals_run_combos(runner, crop)


def test_an_old_record_whose_batch_id_was_flipped_is_refused_at_reap_then_grown_again():
    from xyzfarm.errors import CropIncompleteError

    runner, crop = twelve_cases()
    crop.grow(batch_ids=[b for b in range(1, 13) if b != 7], verbosity=0)
    log, offset, length = result_records(crop.layout)[3]
    with open(log, "ab") as f:  # batch 3 grown twice
        f.write(log.read_bytes()[offset : offset + length])
    as_previous_release(crop)
    _, _, length = result_records(crop.layout)[3]  # shorter now: no sowing id in its header
    flip(log, log.stat().st_size - length + 4, 0x04)  # the old checksum does not see this
    assert crop.status().done == 12  # only reading the record can tell
    warned = pytest.warns(UserWarning, match=r"batch 7 holds 1 cases \[2\], but batch 7 was sown")
    with warned, pytest.raises(CropIncompleteError):
        crop.reap()
    state = crop.status()  # now every reading agrees: the refused record is listed
    assert (state.done, state.damaged_ids) == (11, (7,))
    crop.grow_missing(verbosity=0)
    reaped_equals_run_combos(runner, crop)


# -- a crop that cannot start growing fails fast, typed, naming the file ------------------------


def damage_input(crop, damage):
    layout = crop.layout
    if damage == "truncated function.pkl":
        data = layout.function.read_bytes()
        layout.function.write_bytes(data[: len(data) // 2])
    elif damage == "empty function.pkl":
        layout.function.write_bytes(b"")
    elif damage == "missing cases.bin":
        layout.cases.unlink()
    else:
        layout.cases_index.unlink()
    return damage.split()[-1]


DAMAGED_INPUTS = [
    "truncated function.pkl",
    "empty function.pkl",
    "missing cases.bin",
    "missing cases.idx",
]


@pytest.mark.parametrize("damage", DAMAGED_INPUTS)
@pytest.mark.parametrize("how", ["pool", "executor"])
def test_growing_with_workers_from_a_damaged_crop_gives_a_typed_error_naming_the_file_in_seconds(
    damage, how
):
    from xyzfarm.errors import CropLoadError, FunctionLoadError

    _, sown = make_crop(name="broken")
    filename = damage_input(sown, damage)
    crop = xyz.Crop(name="broken")  # found by name: its function can only come from the folder
    began = time.monotonic()
    options = {"num_threads": 1} if how == "pool" else {}
    with pytest.raises((FunctionLoadError, CropLoadError), match=filename.replace(".", r"\.")):
        crop.grow(num_workers=2, verbosity=0, **options)
    assert time.monotonic() - began < 10
    assert crop.status().failed == 4  # each batch says why
    expected = "FunctionLoadError" if "function" in damage else "CropLoadError"
    assert crop.status().last_error(1).startswith(expected)


@pytest.mark.parametrize("damage", DAMAGED_INPUTS)
def test_the_cli_grow_of_a_damaged_crop_exits_in_seconds_naming_the_file(
    damage, python, python_env
):
    make_crop(name="broken")
    filename = damage_input(xyz.Crop(name="broken"), damage)
    # the function (square, in this module) must be importable for the damage to be the cause
    here = os.path.dirname(__file__)
    python_env = {**python_env, "PYTHONPATH": python_env["PYTHONPATH"] + os.pathsep + here}
    began = time.monotonic()
    out = subprocess.run(
        [python, "-m", "xyzfarm", "grow", "broken", "--workers", "2", "--quiet"],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - began < 10
    assert out.returncode != 0
    assert out.stderr.startswith("xyzfarm: error: ") and filename in out.stderr
    assert out.stderr.count("Traceback") == 0
    status = subprocess.run(
        [python, "-m", "xyzfarm", "status", "--name", "broken"],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "LoadError" in status and filename in status


def test_grow_gpus_with_more_workers_than_gpus_draws_its_bar_once_below_the_warning(
    python, python_env
):
    # the warning that fewer workers run used to come after the bar's first frame, so the
    # terminal showed that frame, the warning, then the bar again
    make_crop(n=4, batchsize=1)
    out = subprocess.run(
        [python, "-m", "xyzfarm", "grow", "sq", "--gpus", "0", "--workers", "2"],
        env=python_env,
        capture_output=True,  # bytes: text mode would turn the bar's "\r" into "\n"
        timeout=120,
    )
    err = out.stderr.decode()
    assert out.returncode == 0, err
    lines = err.split("\n")  # a text bar's frames are one line, split by "\r"
    bars = [i for i, line in enumerate(lines) if "Grow:" in line]
    warning = [i for i, line in enumerate(lines) if "more workers than fit" in line]
    assert len(bars) == 1 and len(warning) == 1, repr(err)
    assert "Grow:" not in lines[warning[0]] and warning[0] < bars[0]
