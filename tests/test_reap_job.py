"""The reap job: results merged into a file after the submitting process is gone, on the real
local SLURM and Grid Engine; PBS by its rendered script and submit command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers import REGISTRY, get, shell

MODEL = """
def model(n, t):
    if n == FAIL_AT:
        raise ValueError(f"n={n} is cursed")
    return n * t
"""

SESSION = """
import sys
import xyzfarm as xyz
crop = xyz.Crop(name="gone", parent_dir=sys.argv[1])
job = crop.grow(scheduler=sys.argv[2], reap_into=sys.argv[3], walltime="0:10:0")
print(job.reap_job_id)
"""


def _sow(folder: Path, fail_at: int | None) -> xyz.Crop:
    (folder / "gonemodel.py").write_text(MODEL.replace("FAIL_AT", repr(fail_at)))
    sys.path.insert(0, str(folder))
    try:
        import gonemodel
    finally:
        sys.path.remove(str(folder))
    sys.modules.pop("gonemodel", None)
    crop = xyz.Runner(gonemodel.model, "e").Crop(name="gone", batchsize=2)
    crop.sow_combos({"n": [1, 2, 3], "t": [0.5, 1.0]})  # 3 batches of 2 cases (sorted: n, t)
    return crop


def _submit_and_leave(scheduler: str, folder: Path, into: Path) -> str:
    """Submit from a child interpreter that exits at once: no process is left here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", SESSION, str(folder), scheduler, str(into)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _wait_for(path: Path, timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.5)


def test_the_reap_job_merges_every_result_into_the_file_after_the_submitter_exited(
    scheduler, tmp_path
):
    crop = _sow(tmp_path, fail_at=None)
    into = tmp_path / "out" / "results.h5"
    into.parent.mkdir()
    assert _submit_and_leave(scheduler, tmp_path, into)
    _wait_for(into)
    # plain xarray, no xyzfarm: the file is an ordinary h5netcdf dataset
    with xr.open_dataset(into, engine="h5netcdf") as ds:
        got = ds.load()
    assert got["e"].sel(n=3, t=0.5).item() == 1.5
    assert float(got["e"].sum()) == sum(n * b for n in (1, 2, 3) for b in (0.5, 1.0))
    end = time.monotonic() + 30
    while crop.layout.root.exists() and time.monotonic() < end:
        time.sleep(0.2)  # the reap publishes, then deletes the crop
    assert not crop.layout.root.exists()


def test_a_reap_job_with_failed_batches_merges_the_rest_and_keeps_the_crop_with_why(
    slurm, tmp_path
):
    crop = _sow(tmp_path, fail_at=2)  # batch 2 (n=2) fails
    into = tmp_path / "results.h5"
    reap_id = _submit_and_leave("slurm", tmp_path, into)
    _wait_for(into)
    with xr.open_dataset(into, engine="h5netcdf") as ds:
        got = ds.load()
    assert got["e"].sel(n=3, t=1.0).item() == 3.0
    assert got["e"].sel(n=2).isnull().all()
    assert crop.layout.root.exists()  # kept: batch 2 can be grown again
    records = list((crop.layout.root / "jobs").glob("*-reap/reap.json"))
    end = time.monotonic() + 30
    while not records and time.monotonic() < end:
        time.sleep(0.2)
        records = list((crop.layout.root / "jobs").glob("*-reap/reap.json"))
    outcome = json.loads(records[0].read_text())
    assert outcome["complete"] is False and outcome["missing"] == [2]
    assert "n=2 is cursed" in outcome["failed"]["2"]
    submission = json.loads(records[0].with_name("submission.json").read_text())
    assert submission["kind"] == "reap" and submission["job_ids"] == [reap_id]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_schedulers_reap_script_holds_itself_until_every_array_has_ended(
    name, tmp_path, monkeypatch
):
    crop = _sow(tmp_path, fail_at=None)
    calls: list[tuple[str, ...]] = []
    mod = get(name)

    def fake_run(argv, **kwargs):  # the one process-spawning seam
        calls.append(tuple(argv))
        job = f"{100 + len(calls)}"
        out = {
            "slurm": f"{job}\n",
            "sge": f"{job}.1-1:1\n",  # qsub -terse
            "pbs": f"{job}[].pbs\n",
            "lsf": f"Job <{job}> is submitted to default queue <normal>.\n",
        }
        return shell.Completed(tuple(argv), 0, out.get(name, f"{job}\n"), "")

    monkeypatch.setattr(shell, "run", fake_run)
    job = crop.grow(scheduler=name, reap_into=tmp_path / "r.h5", walltime="0:10:0")
    reap_script = sorted((crop.layout.root / "jobs").glob("*-reap/reap.sh"))[0].read_text()
    assert mod.dependency_directive(job.job_ids) in reap_script.splitlines()


def test_on_pbs_the_reap_job_is_rendered_and_submitted_after_the_array(tmp_path, monkeypatch):
    crop = _sow(tmp_path, fail_at=None)
    calls: list[tuple[str, ...]] = []

    def fake_run(argv, **kwargs):  # the one process-spawning seam
        calls.append(tuple(argv))
        return shell.Completed(tuple(argv), 0, f"{100 + len(calls)}[].pbs\n", "")

    monkeypatch.setattr(shell, "run", fake_run)
    job = crop.grow(scheduler="pbs", reap_into=tmp_path / "r.h5", walltime="0:10:0")
    assert job.job_ids == ["101[].pbs"] and job.reap_job_id == "102[].pbs"
    *head, script = calls[-1]
    assert head == ["qsub"]
    text = Path(script).read_text()
    assert "#PBS -W depend=afterany:101[].pbs" in text
    assert "#PBS -N gone-reap" in text and "#PBS -J" not in text  # one job, no array
    assert "-m xyzfarm.reaper" in text and str(tmp_path / "r.h5") in text
    assert subprocess.run(["bash", "-n", script]).returncode == 0


def test_reaping_into_a_file_in_a_missing_folder_is_refused_before_anything_is_submitted(
    tmp_path, monkeypatch
):
    crop = _sow(tmp_path, fail_at=None)
    monkeypatch.setattr(shell, "run", lambda *a, **k: pytest.fail("submitted"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        crop.grow(scheduler="slurm", reap_into=tmp_path / "nowhere" / "r.h5")


def test_retries_and_a_reap_job_are_refused_together(tmp_path):
    crop = _sow(tmp_path, fail_at=None)
    with pytest.raises(InvalidInputError, match="reap_into"):
        crop.grow(scheduler="slurm", reap_into=tmp_path / "r.h5", retries=1)


def test_xyzfarm_submit_reap_into_leaves_the_merge_to_the_cluster(slurm, tmp_path):
    crop = _sow(tmp_path, fail_at=None)
    into = tmp_path / "cli.h5"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = ["submit", "gone", "--scheduler", "slurm", "--reap-into", str(into)]
    proc = subprocess.run(
        [sys.executable, "-m", "xyzfarm", *command, "-r", "walltime=0:10:0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"merges the results into {into}" in proc.stdout
    _wait_for(into)
    with xr.open_dataset(into, engine="h5netcdf") as ds:
        assert float(ds["e"].sum()) == 9.0
    end = time.monotonic() + 30
    while crop.layout.root.exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert not crop.layout.root.exists()


def test_following_a_submission_whose_reap_job_deleted_the_crop_finds_nothing_left(slurm, tmp_path):
    crop = _sow(tmp_path, fail_at=None)
    into = tmp_path / "followed.h5"
    job = crop.grow(scheduler="slurm", reap_into=into, walltime="0:10:0")
    _wait_for(into)
    end = time.monotonic() + 30
    while crop.layout.root.exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert job.remaining() == [] and job.wait(timeout_s=5) == []


def test_a_reap_job_queued_by_an_earlier_release_still_finds_its_command(python, python_env):
    # jobs rendered before `python -m xyzfarm.reaper` run `python -m xyzfarm.crop.reap_job`
    import subprocess

    for module in ("xyzfarm.reaper", "xyzfarm.crop.reap_job"):
        out = subprocess.run(
            [python, "-m", module, "--help"],
            env=python_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and "--into" in out.stdout, (module, out.stderr)
