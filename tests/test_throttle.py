"""One throttle, max_running: the local pool reads it live; SLURM and Grid Engine arrays are
changed while they run."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.folder.throttle import LiveLimit, read_max_running, write_max_running
from xyzfarm.schedulers import pbs
from xyzfarm.schedulers import sge as sge_mod
from xyzfarm.schedulers import slurm as slurm_mod

MODEL = """
import json, os, time

def nap(x):
    began = time.time()
    time.sleep(float(os.environ.get("NAP_S", "0")))
    log = os.environ.get("NAP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps([x, began, time.time()]) + "\\n")
    return x
"""


@pytest.fixture
def crop(user_module):
    user_module("napmodel", MODEL)
    import napmodel

    crop = xyz.Runner(napmodel.nap, "y").Crop(name="nap", batchsize=1)
    crop.sow_combos({"x": range(9)})
    return crop


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_the_throttle_is_kept_in_the_crop_folder_and_checked(crop):
    assert read_max_running(crop.layout) is None
    write_max_running(crop.layout, 2)
    assert read_max_running(crop.layout) == 2
    limit = LiveLimit(crop.layout, recheck_s=0)
    assert limit.allows(1) and not limit.allows(2)
    write_max_running(crop.layout, 5)
    assert limit.value() == 5
    write_max_running(crop.layout, None)
    assert limit.value() is None and limit.allows(100)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InvalidInputError, match="max_running"):
            write_max_running(crop.layout, bad)


def test_a_local_pool_follows_the_throttle_changed_while_it_grows(crop, tmp_path, monkeypatch):
    log = tmp_path / "spans.jsonl"
    monkeypatch.setenv("NAP_LOG", str(log))
    monkeypatch.setenv("NAP_S", "0.4")
    changed_at: list[float] = []

    def open_up() -> None:
        time.sleep(1.5)
        changed_at.append(time.time())
        crop.set_max_running(2)

    opener = threading.Thread(target=open_up)
    opener.start()
    state = crop.grow(num_workers=2, num_threads=1, max_running=1, verbosity=0)
    opener.join()
    assert state.done == 9
    spans = [(b, e) for _, b, e in (json.loads(line) for line in log.read_text().splitlines())]
    before = [s for s in spans if s[1] < changed_at[0]]
    assert len(before) >= 2 and _most_at_once(before) == 1
    assert _most_at_once(spans) == 2  # the new limit was read within a second


def test_the_throttle_means_the_same_on_every_scheduler():
    assert slurm_mod.throttle_update_argv("7", 3) == [
        "scontrol",
        "update",
        "JobId=7",
        "ArrayTaskThrottle=3",
    ]
    assert sge_mod.throttle_update_argv("7", 3) == ["qalter", "-tc", "3", "7"]
    assert pbs.throttle_update_argv("7[]", 3) == ["qalter", "-W", "max_run_subjobs=3", "7[]"]
    assert slurm_mod.parse_throttle("JobId=7 ArrayJobId=7 ArrayTaskThrottle=2 Foo=1") == 2
    assert slurm_mod.parse_throttle("ArrayTaskThrottle=0") is None


def test_a_slurm_array_throttle_is_changed_while_it_runs(crop, slurm, monkeypatch):
    monkeypatch.setenv("NAP_S", "20")
    job = crop.grow(scheduler="slurm", max_running=1)
    try:
        shown = subprocess.run(
            ["scontrol", "show", "job", job.job_ids[0]], capture_output=True, text=True
        ).stdout
        assert slurm_mod.parse_throttle(shown) == 1
        assert crop.set_max_running(2) == {job.job_ids[0]: True}
        shown = subprocess.run(
            ["scontrol", "show", "job", job.job_ids[0]], capture_output=True, text=True
        ).stdout
        assert slurm_mod.parse_throttle(shown) == 2
        assert read_max_running(crop.layout) == 2  # a local pool would follow it too
    finally:
        job.cancel()


def test_a_grid_engine_array_throttle_is_changed_while_it_runs(crop, sge, monkeypatch):
    monkeypatch.setenv("NAP_S", "20")
    job = crop.grow(scheduler="sge", max_running=1)
    try:
        assert "maximum concurrency:        1" in _qstat_j(job.job_ids[0])
        assert crop.set_max_running(3) == {job.job_ids[0]: True}
        assert "maximum concurrency:        3" in _qstat_j(job.job_ids[0])
    finally:
        job.cancel()


def _qstat_j(job_id: str) -> str:
    return subprocess.run(["qstat", "-j", job_id], capture_output=True, text=True).stdout


def test_xyzfarm_throttle_sets_the_crops_throttle(crop):
    from xyzfarm.cli import main

    assert main(["throttle", "nap", "3"]) == 0
    assert read_max_running(crop.layout) == 3
