"""Array jobs on the real local SLURM that `make test` starts (scripts/local-slurm.sh)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.reap import without_provenance
from xyzfarm.schedulers import slurm as slurm_mod
from xyzfarm.schedulers.submit import ClusterJob

MODEL = """
import json, os, time
import numpy as np

def model(n, beta):
    time.sleep(float(os.environ.get("MODEL_SLEEP", "0")))
    log = os.environ.get("MODEL_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"n": n, "beta": beta, "pid": os.getpid(),
                                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                "cpus": sorted(os.sched_getaffinity(0)),
                                "task": os.environ.get("SLURM_ARRAY_TASK_ID"),
                                "restart": os.environ.get("SLURM_RESTART_COUNT")}) + "\\n")
    return n * beta, np.arange(3) * beta
"""
COMBOS = {"n": [1, 2, 3, 4], "beta": [0.5, 1.0, 2.0]}


@pytest.fixture
def runner(user_module, slurm):
    user_module("slurmmodel", MODEL)
    import slurmmodel

    return xyz.Runner(
        slurmmodel.model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(3)}
    )


def squeue_empty(job: ClusterJob) -> bool:
    return not job.scheduler_states()


def test_the_site_array_limit_is_read_from_scontrol(slurm):
    assert slurm_mod.max_array_size() == 100001


def test_a_crop_grown_as_slurm_arrays_with_two_workers_per_task_reaps_to_run_combos(runner):
    crop = runner.Crop(name="arr", batchsize=2)
    crop.sow_combos(COMBOS)
    job = crop.grow(scheduler="slurm", workers_per_task=2, walltime="0:10:0")
    assert isinstance(job, ClusterJob) and len(job.job_ids) == 1
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    assert job.status().done == 6 and job.remaining() == []
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(COMBOS, verbosity=0)
    )


def test_a_small_array_limit_splits_the_submission_into_chunks(runner):
    crop = runner.Crop(name="chunks")
    crop.sow_combos(COMBOS)  # 12 batches
    job = crop.grow(scheduler="slurm", max_array_size=5)
    assert len(job.job_ids) == 3  # ceil(12 / 5) sbatch calls, indices 0..4 each
    maps = sorted(job.job_dir.glob("chunk-*.map.json"))
    assert [len(json.loads(m.read_text())["tasks"]) for m in maps] == [5, 5, 2]
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(COMBOS, verbosity=0)
    )


def test_cancelled_tasks_leave_batches_missing_and_resubmitting_them_completes(runner, monkeypatch):
    monkeypatch.setenv("MODEL_SLEEP", "0.5")
    crop = runner.Crop(name="cancel")
    crop.sow_combos(COMBOS)
    job = crop.grow(scheduler="slurm", array_throttle=2)
    deadline = time.monotonic() + 60
    while not crop.completed_results() and time.monotonic() < deadline:
        time.sleep(0.2)
    job.cancel()
    deadline = time.monotonic() + 60
    while not squeue_empty(job) and time.monotonic() < deadline:
        time.sleep(0.3)
    missing = crop.missing_results()
    assert 0 < len(missing) < 12
    monkeypatch.setenv("MODEL_SLEEP", "0")
    again = crop.grow(scheduler="slurm")  # only the missing batches
    assert again.batches == list(missing)
    assert again.wait(timeout_s=120, poll_interval_s=0.5) == []
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(COMBOS, verbosity=0)
    )


def test_fake_gpus_show_up_as_distinct_cuda_visible_devices_per_task(runner, tmp_path, monkeypatch):
    log = tmp_path / "model.log"
    monkeypatch.setenv("MODEL_LOG", str(log))
    monkeypatch.setenv("MODEL_SLEEP", "1.5")  # both tasks run at once, each with its GPU
    crop = runner.Crop(name="gpu", num_batches=2)
    crop.sow_combos({"n": [1, 2], "beta": [1.0]})
    job = crop.grow(scheduler="slurm", gpus=1)
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    seen = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        seen[rec["task"]] = rec["cuda"]
    assert sorted(seen.values()) == ["0", "1"]


def test_a_requeued_task_resumes_from_its_checkpoint_without_losing_or_repeating_cases(
    runner, tmp_path, monkeypatch
):
    log = tmp_path / "model.log"
    monkeypatch.setenv("MODEL_LOG", str(log))
    monkeypatch.setenv("MODEL_SLEEP", "0.4")  # slower than the checkpoint interval
    crop = runner.Crop(name="requeue", num_batches=1)
    crop.sow_combos(COMBOS)  # one batch of 12 cases, ~5 s
    job = crop.grow(scheduler="slurm")
    deadline = time.monotonic() + 60
    while (
        not log.exists() or len(log.read_text().splitlines()) < 4
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", f"{job.job_ids[0]}_0"], check=True)
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    records = [json.loads(line) for line in log.read_text().splitlines()]
    cases = [(r["n"], r["beta"]) for r in records]
    assert {r["restart"] for r in records} >= {None, "1"} or {r["restart"] for r in records} >= {
        "0",
        "1",
    }
    assert len(set(cases)) == 12  # nothing lost
    assert len(cases) - 12 <= 1  # at most the case in flight was computed twice
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(COMBOS, verbosity=0)
    )


def test_a_submitit_slurm_executor_grows_batches_as_the_alternative_path(
    runner, tmp_path, monkeypatch
):
    import os
    import sys

    import submitit

    # submitit's jobs import the function by name: make its module importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    crop = runner.Crop(name="submitit", batchsize=3)
    crop.sow_combos(COMBOS)
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_partition="debug")
    crop.grow(executor=executor, verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(COMBOS, verbosity=0)
    )


@pytest.fixture
def sge_runner(user_module, sge):
    user_module("sgemodel", MODEL)
    import sgemodel

    return xyz.Runner(sgemodel.model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(3)})


def test_the_same_crop_grown_on_grid_engine_reaps_to_run_combos(sge_runner):
    crop = sge_runner.Crop(name="sge", batchsize=2)
    crop.sow_combos(COMBOS)
    job = crop.grow(scheduler="sge", workers_per_task=2, walltime="0:10:0")
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    xr.testing.assert_identical(
        without_provenance(crop.reap()), sge_runner.run_combos(COMBOS, verbosity=0)
    )


def test_grid_engine_chunks_use_one_based_task_ids_below_the_cap(sge_runner):
    crop = sge_runner.Crop(name="sgechunks")
    crop.sow_combos(COMBOS)  # 12 batches
    job = crop.grow(scheduler="sge", max_array_size=6)
    assert len(job.job_ids) == 3  # tasks 1..5, 1..5, 1..2
    maps = sorted(job.job_dir.glob("chunk-*.map.json"))
    assert [sorted(json.loads(m.read_text())["tasks"]) for m in maps][-1] == ["1", "2"]
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    xr.testing.assert_identical(
        without_provenance(crop.reap()), sge_runner.run_combos(COMBOS, verbosity=0)
    )


@pytest.fixture
def small_array_limit(slurm):
    """The local SLURM restarted by its script with MaxArraySize=11, then restarted as it was.

    (``scontrol reconfigure`` lowers the limit live but does not raise it again.)
    """
    import os
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "local-slurm.sh"
    folder = str(Path(slurm).parent)

    def restart(**env: str) -> None:
        subprocess.run([str(script), "stop", folder], check=True, capture_output=True)
        subprocess.run(
            [str(script), "start", folder],
            check=True,
            capture_output=True,
            env={**os.environ, **env},
        )

    restart(XYZ_SLURM_MAX_ARRAY="11")
    try:
        yield 11
    finally:
        restart()


def test_a_site_with_a_small_max_array_size_gets_chunked_submissions(runner, small_array_limit):
    assert slurm_mod.max_array_size() == small_array_limit
    crop = runner.Crop(name="smallmax")
    crop.sow_combos({"n": [1, 2, 3, 4, 5], "beta": [0.5, 1.0, 2.0, 4.0, 8.0]})  # 25 batches
    job = crop.grow(scheduler="slurm")  # the limit is read from scontrol
    assert len(job.job_ids) == 3  # 11 + 11 + 3 tasks, indices 0..10 each
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    assert crop.status().done == 25


def test_the_time_limit_warning_checkpoints_and_requeues_the_task_which_then_resumes(
    runner, tmp_path, monkeypatch
):
    log = tmp_path / "model.log"
    monkeypatch.setenv("MODEL_LOG", str(log))
    monkeypatch.setenv("MODEL_SLEEP", "0.4")
    crop = runner.Crop(name="warned", num_batches=1)
    crop.sow_combos(COMBOS)
    job = crop.grow(scheduler="slurm", walltime="0:10:0")
    deadline = time.monotonic() + 60
    while (
        not log.exists() or len(log.read_text().splitlines()) < 3
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    # what --signal=B:USR1@60 delivers before the limit, sent now
    subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job.job_ids[0]}_0"], check=True)
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert "1" in {r["restart"] for r in records}
    cases = [(r["n"], r["beta"]) for r in records]
    assert len(set(cases)) == 12 and len(cases) - 12 <= 1
    out = "".join(p.read_text() for p in crop.layout.folder("logs").glob("*.out"))
    assert "requeued" in out


FLAKY = """
import os, time
from pathlib import Path
def flaky(x):
    marker = Path(os.environ["FLAKY_DIR"]) / f"tried-{x}"
    if x == 2 and not marker.exists():
        marker.write_text("once")
        raise RuntimeError("first attempt fails")
    time.sleep(float(os.environ.get("FLAKY_SLEEP", "0")))
    return x * 1.0
"""


def test_retries_on_slurm_resubmit_a_batch_that_failed_once(
    user_module, slurm, tmp_path, monkeypatch
):
    user_module("slurmflaky", FLAKY)
    import slurmflaky

    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    crop = xyz.Runner(slurmflaky.flaky, "y").Crop(name="flaky")
    crop.sow_combos({"x": range(4)})
    job = crop.grow(scheduler="slurm", retries=1)
    assert len(job.job_ids) == 2  # the first submission, then one retry
    assert job.remaining() == [] and crop.status().done == 4


def test_a_batch_over_its_walltime_is_retried_with_twice_the_walltime(
    user_module, slurm, tmp_path, monkeypatch
):
    user_module("slurmslow", FLAKY)
    import slurmslow

    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    (tmp_path / "tried-2").write_text("no failure here")
    monkeypatch.setenv("FLAKY_SLEEP", "4")
    crop = xyz.Runner(slurmslow.flaky, "y").Crop(name="slow", num_batches=1)
    crop.sow_combos({"x": range(4)})  # one batch of ~16 s
    job = crop.grow(scheduler="slurm", walltime="0:01:00", signal_lead_s=1, max_requeues=0)
    deadline = time.monotonic() + 60
    while not crop.layout.partial(1).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    # the warning --signal=B:USR1@N sends before the limit, sent now; no requeue budget left,
    # so the batch is recorded as a Timeout, and the retry doubles the walltime
    subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job.job_ids[0]}_0"], check=True)
    assert job.wait(retries=1, poll_interval_s=0.5) == []
    assert job.remaining() == []
    scripts = sorted(job.layout.root.glob("jobs/*/chunk-0.sh"))
    assert "#SBATCH --time=00:01:00" in scripts[0].read_text()
    assert "#SBATCH --time=00:02:00" in scripts[-1].read_text()
    reaped = crop.reap()
    assert set(crop.provenance.xyz_attempt.values) == {1, 2}  # cases done before the warning kept
    assert list(reaped.y.values) == [0.0, 1.0, 2.0, 3.0]
