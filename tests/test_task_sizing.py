"""Array tasks sized to a target runtime from measured case times."""

from __future__ import annotations

import pytest

import xyzfarm as xyz
from xyzfarm.crop.task_sizing import (
    measured_seconds_per_case,
    seconds_per_case,
    size_tasks,
    timed_seconds_per_case,
)
from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers import slurm as slurm_mod

MODEL = """
import os, time

def nap(x):
    time.sleep(float(os.environ.get("NAP_S", "0")))
    return x
"""


@pytest.fixture
def crop(user_module):
    user_module("sizemodel", MODEL)
    import sizemodel

    crop = xyz.Runner(sizemodel.nap, "y").Crop(name="sized", batchsize=2)
    crop.sow_combos({"x": range(48)})  # 24 batches of 2 cases
    return crop


def test_each_task_gets_as_many_batches_as_fit_the_target(crop):
    # 0.5 s a case, 2 cases a batch: 1 s a batch, 6 s a task of one worker
    size = size_tasks(crop.layout, 24, target_task_minutes=0.1, seconds_per_case=0.5)
    assert (size.batches_per_task, size.task_seconds) == (6, 6.0)
    # two workers grow two batches at a time: twice the batches in the same time
    size = size_tasks(
        crop.layout, 24, target_task_minutes=0.1, seconds_per_case=0.5, workers_per_task=2
    )
    assert (size.batches_per_task, size.task_seconds) == (12, 6.0)


def test_a_per_user_job_cap_makes_tasks_longer_instead_of_refused(crop):
    size = size_tasks(crop.layout, 24, target_task_minutes=0.1, seconds_per_case=0.5, max_tasks=2)
    assert size.batches_per_task == 12 and size.max_tasks == 2


def test_a_batch_longer_than_the_target_warns_with_the_batchsize_that_would_fit(crop):
    with pytest.warns(UserWarning, match="batchsize <= 1 "):
        size = size_tasks(crop.layout, 24, target_task_minutes=0.1, seconds_per_case=0.5 * 10)
    assert size.batches_per_task == 1


def test_bad_targets_and_case_times_are_refused(crop):
    with pytest.raises(InvalidInputError, match="target_task_minutes"):
        size_tasks(crop.layout, 24, target_task_minutes=0, seconds_per_case=1.0)
    with pytest.raises(InvalidInputError, match="seconds_per_case"):
        seconds_per_case(crop.layout, [1], given=-1)


def test_case_times_come_from_the_provenance_of_batches_already_grown(crop, monkeypatch):
    assert measured_seconds_per_case(crop.layout) is None
    monkeypatch.setenv("NAP_S", "0.05")
    crop.grow(batch_ids=[1, 2], verbosity=0)
    measured, batches = measured_seconds_per_case(crop.layout)
    assert batches == 2 and 0.05 <= measured < 0.2
    assert seconds_per_case(crop.layout, [3])[1] == "provenance of 2 batches"


def test_without_grown_batches_a_few_cases_are_timed_here_and_nothing_is_kept(crop, monkeypatch):
    monkeypatch.setenv("NAP_S", "0.05")
    seconds, cases = timed_seconds_per_case(crop.layout, 1)
    assert cases == 2 and 0.05 <= seconds < 0.2  # the batch has 2 cases
    assert crop.status().done == 0
    assert seconds_per_case(crop.layout, [1])[1] == "timed 2 cases here"


def test_sacctmgr_limits_are_read_when_set():
    assert slurm_mod.parse_max_submit("100|\n50|20\n") == 50
    assert slurm_mod.parse_max_submit("|\n") is None


def test_tasks_on_slurm_run_about_the_target(crop, slurm, monkeypatch):
    monkeypatch.setenv("NAP_S", "0.5")
    job = crop.grow(scheduler="slurm", target_task_minutes=0.1)
    assert job.options["batches_per_task"] == 6  # 0.5 s a case, timed here
    assert len(job.job_ids) == 1
    assert job.wait(timeout_s=180, poll_interval_s=0.5) == []
    ds = crop.reap(provenance="in")
    starts = ds["xyz_start"].values.ravel().astype("datetime64[ns]").astype("int64") / 1e9
    ends = starts + ds["xyz_seconds"].values.ravel()
    tasks = ds["xyz_task"].values.ravel()
    per_task = {
        t: float(ends[tasks == t].max() - starts[tasks == t].min()) for t in set(tasks.tolist())
    }
    assert len(per_task) == 4
    assert all(5.5 <= s <= 7.5 for s in per_task.values()), per_task
