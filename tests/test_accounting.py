"""Failure classes read from the real schedulers' accounting: tasks killed before they could
write anything (over memory, over walltime, cancelled, exited hard) get their class in the
crop's status, and retries ask for more of only what ran out.

SLURM needs accounting (``XYZ_SLURM_ACCOUNTING=1 scripts/local-slurm.sh start``, as ``make
test`` does); PREEMPTED and NODE_FAIL cannot be produced on the one-node local cluster.
"""

from __future__ import annotations

import subprocess
import time

import pytest

import xyzfarm as xyz
from xyzfarm.schedulers import accounting

MODEL = """
import os, signal, time

def hungry(mb):
    block = b"x" * (mb * 2**20)  # touched: resident, not only reserved
    time.sleep(3)  # SLURM's gatherer samples memory every second
    return float(len(block) // 2**20)

def stuck(x):
    # like C code that never returns to Python: the warnings before the limit go unheard
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2})
    time.sleep(600)
    return x

def sleepy(x):
    time.sleep(600)
    return x

def vanishing(x):
    os._exit(3)  # gone without a word: no failure record of its own
"""


@pytest.fixture
def model(user_module):
    user_module("acctmodel", MODEL)
    import acctmodel

    return acctmodel


@pytest.fixture
def slurm_accounting(slurm):
    """The local SLURM keeps accounts (sacct answers); skip, or fail under make test."""
    import os

    done = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("XYZ_REQUIRE_SLURM"):
            pytest.fail(f"the local SLURM keeps no accounts: {done.stderr.strip()}")
        pytest.skip("the local SLURM keeps no accounts: start it with XYZ_SLURM_ACCOUNTING=1")
    return slurm


def grown(fn, name, values, **options):
    crop = xyz.Runner(fn, "y").Crop(name=name, num_batches=1)
    crop.sow_combos({fn.__code__.co_varnames[0]: values})
    return crop, crop.grow(**options)


def waited(job, **options):
    """``job.wait(**options)``, the job cancelled afterwards whatever happened."""
    try:
        return job.wait(**options)
    finally:
        job.cancel()


def wait_until(condition, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_task_killed_for_memory_is_reported_out_of_memory_and_retried_with_twice_the_memory(
    model, slurm_accounting
):
    crop, job = grown(model.hungry, "hungry", [300], scheduler="slurm", mem_gb=0.25)
    try:
        assert job.wait(timeout_s=120, poll_interval_s=1) == [1]
        assert crop.status().failure_classes == ((1, accounting.OUT_OF_MEMORY),)
        assert "OUT_OF_MEMORY" in job.failures()[1]
        assert job.wait(timeout_s=120, poll_interval_s=1, retries=1) == []
    finally:
        job.cancel()
    scripts = sorted(crop.layout.root.glob("jobs/*/chunk-0.sh"))
    assert "#SBATCH --mem=256M" in scripts[0].read_text()
    assert "#SBATCH --mem=512M" in scripts[-1].read_text()
    assert list(crop.reap().y.values) == [300.0]


def test_a_cancelled_task_is_reported_cancelled_and_not_retried(model, slurm_accounting):
    crop, job = grown(model.sleepy, "cancelled", [1], scheduler="slurm")
    try:
        wait_until(lambda: crop.status().running == 1)
        job.cancel()
        with pytest.warns(UserWarning, match="cancelled"):
            assert job.wait(timeout_s=60, poll_interval_s=1, retries=1) == [1]
    finally:
        job.cancel()
    assert len(job.job_ids) == 1  # not resubmitted
    assert crop.status().failure_classes == ((1, accounting.CANCELLED),)


def test_a_task_that_exits_without_a_word_is_reported_failed_with_its_exit_status(
    model, slurm_accounting
):
    crop, job = grown(model.vanishing, "vanishing", [1], scheduler="slurm")
    assert waited(job, timeout_s=60, poll_interval_s=1) == [1]
    assert crop.status().failure_classes == ((1, accounting.FAILED),)
    assert "FAILED 3:0" in job.failures()[1]


def test_a_slurm_task_past_its_walltime_is_reported_timeout(model, slurm_accounting):
    # SLURM's smallest limit is a minute (and it looks every ~30 s): this test takes ~1.5 min
    crop, job = grown(model.stuck, "stuck", [1], scheduler="slurm", walltime="0:01:00")
    assert waited(job, timeout_s=240, poll_interval_s=2) == [1]
    # sacct says TIMEOUT at the SIGTERM; the task, deaf to it, holds its batch until the
    # SIGKILL KillWait seconds later: until then the batch counts as running
    wait_until(lambda: crop.status().running == 0, timeout_s=30)
    assert crop.status().failure_classes == ((1, accounting.TIMEOUT),)


def test_an_sge_task_past_its_walltime_is_reported_timeout_from_qacct(model, sge):
    crop, job = grown(model.stuck, "stucksge", [1], scheduler="sge", walltime=3)
    assert waited(job, timeout_s=120, poll_interval_s=1) == [1]
    assert crop.status().failure_classes == ((1, accounting.TIMEOUT),)
    assert "failed 37" in job.failures()[1]


def test_a_memory_kill_without_a_memory_request_is_resubmitted_as_it_was_with_a_warning(
    model, slurm_accounting
):
    # no mem_gb: the local cluster's default per CPU (512 MB) is the limit, and nothing to double
    crop, job = grown(model.hungry, "nomem", [700], scheduler="slurm")
    try:
        with pytest.warns(UserWarning, match="no mem_gb was requested"):
            assert job.wait(timeout_s=180, poll_interval_s=1, retries=1) == [1]
    finally:
        job.cancel()
    assert len(job.job_ids) == 2
    assert crop.status().failure_classes == ((1, accounting.OUT_OF_MEMORY),)
