"""The efficiency report: each batch's recorded usage (wall, CPU, peak memory) against what
its tasks asked for, in pinned local workers and on the real local SLURM."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

import xyzfarm as xyz
from xyzfarm.crop.efficiency import MEMORY_MARGIN, efficiency_report
from xyzfarm.folder.manifest import Manifest
from xyzfarm.folder.results import ResultIndex, ResultWriter

MODEL = """
import time

def busy(mb, seconds):
    block = b"x" * (mb * 2**20)  # touched: resident
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return float(len(block) // 2**20)
"""


@pytest.fixture
def busy(user_module):
    user_module("effmodel", MODEL)
    import effmodel

    return effmodel.busy


def records(crop):
    with ResultIndex(crop.layout, sowing=Manifest.read(crop.layout).sowing_id) as index:
        index.refresh()
        return {b: index.load(b) for b in sorted(index.done())}


def test_every_batch_result_records_its_wall_cpu_and_peak_memory(busy):
    crop = xyz.Runner(busy, "y").Crop(name="usage", batchsize=1)
    crop.sow_combos({"mb": [10, 60], "seconds": [0.2]})
    crop.grow(num_workers=2, verbosity=0)
    grown = records(crop)
    assert sorted(grown) == [1, 2]  # read back: the checks below are not vacuous
    for batch, record in grown.items():
        usage = record["usage"]
        assert usage["cpu_s"] >= 0.15, usage  # busy for 0.2 s of CPU
        assert usage["wall_s"] >= usage["cpu_s"] * 0.9, usage
        assert usage["peak_mb"] >= 10 + 10 * (batch == 2) * 5, usage  # 10 MB, then 60 MB
        assert isinstance(usage["pid"], int)


def test_the_report_gives_distributions_and_a_suggestion_from_local_workers(busy):
    crop = xyz.Runner(busy, "y").Crop(name="local", batchsize=2)
    crop.sow_combos({"mb": [5, 50], "seconds": [0.05, 0.1]})
    crop.grow(num_workers=2, verbosity=0)
    report = crop.report()
    assert report.batches == 2 and report.case_s.count == 4
    assert 0.05 <= report.case_s.median <= report.case_s.max
    assert report.batch_cpu_s.max >= 0.1
    assert report.peak_mem_gb.max >= 50 / 1024
    assert report.task_peak_mem_gb.count == 1  # one local run: one "task"
    assert report.suggested["mem_gb"] >= report.task_peak_mem_gb.p95 * MEMORY_MARGIN
    assert report.suggested["walltime"] == "00:01:00"
    assert "suggested next request" in str(report)


def test_results_of_earlier_releases_without_usage_are_read_and_left_out(busy, monkeypatch):
    real = ResultWriter.append

    def old_append(self, batch, obj, **options):  # what releases before usage wrote
        return real(self, batch, {k: v for k, v in obj.items() if k != "usage"}, **options)

    monkeypatch.setattr(ResultWriter, "append", old_append)
    crop = xyz.Runner(busy, "y").Crop(name="old", batchsize=1)
    crop.sow_combos({"mb": [1, 2], "seconds": [0.0]})
    crop.grow(verbosity=0)
    grown = records(crop)
    assert len(grown) == 2 and all("usage" not in r for r in grown.values())
    report = efficiency_report(crop.layout)
    assert report.batches == 0 and report.case_s.count == 2  # case seconds still known
    assert report.to_dict()["batch_wall_s"]["median"] is None  # NaN is not JSON
    assert list(crop.reap(clean_up=False).y.values.ravel()) == [1.0, 2.0]


def test_a_slurm_crop_that_asked_far_too_much_is_flagged_with_a_smaller_suggestion(
    busy, slurm, python, python_env
):
    crop = xyz.Runner(busy, "y").Crop(name="greedy", batchsize=2)
    crop.sow_combos({"mb": [20, 40], "seconds": [0.1, 0.2]})
    job = crop.grow(scheduler="slurm", mem_gb=4, walltime="0:30:00", workers_per_task=2)
    try:
        assert job.wait(timeout_s=120, poll_interval_s=1) == []
    finally:
        job.cancel()
    report = crop.report()
    assert report.requested == {
        "mem_gb": 4.0,
        "walltime_s": 1800,
        "cpus_per_task": 2,
        "workers_per_task": 2,
    }
    assert report.task_wall_s.count == 1 and report.task_peak_mem_gb.count == 1
    assert any(f.startswith("memory:") for f in report.flags), report.flags
    assert any(f.startswith("walltime:") for f in report.flags), report.flags
    assert report.suggested["mem_gb"] < 4 and report.suggested["walltime"] == "00:01:00"

    # the command line says the same, as JSON and as text
    def report_command(*options):
        argv = [python, "-m", "xyzfarm", "report", "greedy", *options]
        return subprocess.run(argv, env=python_env, capture_output=True, text=True, check=True)

    assert json.loads(report_command("--json").stdout)["suggested"] == report.suggested
    text = report_command().stdout
    assert "flag: memory" in text and "suggested next request: mem_gb=" in text


def test_trivial_batches_share_a_reading_every_10_ms_and_the_report_still_counts_them():
    # batches far below USAGE_MIN_WALL_S (50 us of work each), that together last longer than
    # a few USAGE_SAMPLE_S: some readings, never one per batch
    crop = xyz.Runner(lambda x: (time.sleep(5e-5), x * 1.0)[1], "y").Crop(
        name="trivial", batchsize=1
    )
    crop.sow_combos({"x": range(300)})
    crop.grow(verbosity=0)
    usages = [r["usage"] for r in records(crop).values()]
    read = [u for u in usages if "cpu_s" in u]
    assert 0 < len(read) < len(usages)  # sampled: not one system call per batch
    assert all(u["cpu_wall_s"] >= u["wall_s"] for u in read)
    report = efficiency_report(crop.layout)
    assert report.batches == 300 and report.batch_wall_s.count == 300
    assert report.peak_mem_gb.count == len(read) and report.cpu_efficiency > 0
