"""Array jobs on the real local SLURM that `make test` starts (scripts/local-slurm.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.crop.submit import ClusterJob
from xyzfarm.schedulers import slurm as slurm_mod
from xyzfarm.schedulers.base import still_active

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
# a crop sows combos sorted by name, as xyzpy does: its reaped dims are in that order
CROP_ORDER = dict(sorted(COMBOS.items()))


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
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
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
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
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
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
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
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
    )


def test_a_submitit_slurm_executor_grows_batches_as_the_alternative_path(
    runner, tmp_path, monkeypatch
):
    import os
    import sys

    submitit = pytest.importorskip("submitit")  # an optional extra: [submitit]

    # submitit's jobs import the function by name: make its module importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    crop = runner.Crop(name="submitit", batchsize=3)
    crop.sow_combos(COMBOS)
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_partition="debug")
    crop.grow(executor=executor, verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
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
        without_provenance(crop.reap()), sge_runner.run_combos(CROP_ORDER, verbosity=0)
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
        without_provenance(crop.reap()), sge_runner.run_combos(CROP_ORDER, verbosity=0)
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
    # restarted as it runs: with accounting (slurmdbd) if it has it
    keeps_accounts = "accounting_storage/slurmdbd" in Path(slurm).read_text()

    def restart(**env: str) -> None:
        subprocess.run([str(script), "stop", folder], check=True, capture_output=True)
        subprocess.run(
            [str(script), "start", folder],
            check=True,
            capture_output=True,
            env={**os.environ, "XYZ_SLURM_ACCOUNTING": "1" if keeps_accounts else "0", **env},
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


# -- where users really work: python -c, a script elsewhere, a Jupyter kernel -----------------

#: the session's code: sow, submit, wait (cancelling on a timeout), reap; the reaped values and
#: the job ids land in result.json (job ids first, so a failing test can cancel them)
SESSION = """
import json, sys
import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
import accmod

runner = xyz.Runner(accmod.model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(3)})
crop = runner.Crop(name="where", batchsize=2)
crop.sow_combos(COMBOS)
job = crop.grow(scheduler=SCHEDULER, workers_per_task=2, walltime="0:10:0")
open(OUT + ".jobs", "w").write(json.dumps(job.job_ids))
left = job.wait(timeout_s=150, poll_interval_s=0.5)
if left:
    job.cancel()
    raise SystemExit(f"batches {left} never finished: {crop.status()}")
ds = without_provenance(crop.reap())
json.dump({"e": ds.e.values.tolist(), "g": ds.g.values.tolist()}, open(OUT, "w"))
"""


def _session_code(scheduler: str, out: Path) -> str:
    return f"COMBOS = {COMBOS!r}\nSCHEDULER = {scheduler!r}\nOUT = {str(out)!r}\n" + SESSION


def _session_env() -> dict[str, str]:
    """A user's shell: no PYTHONPATH of the test run (xyzfarm comes from the venv)."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _check_reaped(out: Path, scheduler: str, proc: Any) -> None:
    import numpy as np

    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        got = json.loads(out.read_text())
    finally:
        jobs = Path(str(out) + ".jobs")
        if jobs.exists() and proc.returncode != 0:
            from xyzfarm.schedulers import get, shell

            shell.run(get(scheduler).cancel_argv(json.loads(jobs.read_text())), check=False)
    namespace: dict[str, Any] = {}
    exec(MODEL, namespace)  # the test's own model source
    # the crop's dims are sorted by name (beta, n), as xyzpy sows them
    expected = [[namespace["model"](n, b) for n in COMBOS["n"]] for b in COMBOS["beta"]]
    assert np.allclose(got["e"], [[e for e, _ in row] for row in expected])
    assert np.allclose(got["g"], [[list(g) for _, g in row] for row in expected])


def test_from_python_c_with_the_function_in_a_module_in_the_working_directory(scheduler, tmp_path):
    (tmp_path / "accmod.py").write_text(MODEL)
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-c", _session_code(scheduler, out)],
        cwd=tmp_path,
        env=_session_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    _check_reaped(out, scheduler, proc)


def test_from_a_script_in_another_folder_with_its_module_beside_it(scheduler, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "accmod.py").write_text(MODEL)
    script = tmp_path / "a" / "session.py"
    out = tmp_path / "result.json"
    script.write_text(_session_code(scheduler, out))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path / "b",
        env=_session_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    _check_reaped(out, scheduler, proc)


def test_from_a_real_jupyter_kernel_executing_a_notebook(scheduler, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import os

    out = tmp_path / "result.json"
    # the function's module is written by a cell and imported beside the notebook, and a
    # helper is defined in the notebook itself (IPython's __main__)
    cells = [
        f"open('accmod.py', 'w').write({MODEL!r})",
        "def double(x):\n    return 2 * x",
        _session_code(scheduler, out),
        "assert double(2) == 4",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "sweep.ipynb"
    nbformat.write(nb, path)
    client = nbclient.NotebookClient(
        nbformat.read(path, as_version=4),
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    saved = os.environ.pop("PYTHONPATH", None)  # the kernel starts as a user's would
    try:
        client.execute()
        proc = subprocess.CompletedProcess([], 0, "", "")
    except Exception as exc:  # the cell's error: report it, cancel what it submitted
        proc = subprocess.CompletedProcess([], 1, "", str(exc)[-3000:])
    finally:
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
    _check_reaped(out, scheduler, proc)


def test_a_rendered_script_submitted_by_hand_grows_the_crop(runner, tmp_path):
    crop = runner.Crop(name="byhand", batchsize=3)
    crop.sow_combos(COMBOS)
    text = crop.render("slurm", workers_per_task=2, walltime="0:10:0")
    command = next(
        line.split("#   ", 1)[1] for line in text.splitlines() if line.startswith("#   cd ")
    )
    sub = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0, sub.stderr
    job_id = slurm_mod.parse_job_id(sub.stdout)
    deadline = time.monotonic() + 150
    try:
        while crop.status().done < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert crop.status().done == 4
    finally:
        subprocess.run(["scancel", job_id], check=False)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
    )


# =================================================================================================
# issue 12, pre-flight: a task that cannot load the function ends within seconds and says why
# =================================================================================================

PREFLIGHT_SCHEDULERS = ["slurm", "sge"]


def _function_of_a_module_that_is_then_deleted(layout, folder) -> None:
    """Make function.pkl refer by name to a module that existed only at submit time: what a
    node sees when it cannot import the session's module, whatever shipping rule applies."""
    import importlib
    import pickle
    import shutil
    import sys

    from xyzfarm.store import storage

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submitonly.py").write_text("def f(n, beta):\n    return n, [n, n, n]\n")
    sys.path.insert(0, str(folder))
    try:
        payload = pickle.dumps({"fn": importlib.import_module("submitonly").f, "fixed": {}})
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("submitonly", None)
    shutil.rmtree(folder)
    storage.write_bytes(layout.function, payload)
    # saved as a sow saves it: the manifest records the file's sha256
    import hashlib
    from dataclasses import replace

    from xyzfarm.folder.manifest import Manifest

    sown = Manifest.read(layout)
    replace(sown, fn_sha256=hashlib.sha256(payload).hexdigest()).write(layout)


@pytest.mark.parametrize("scheduler", PREFLIGHT_SCHEDULERS)
def test_tasks_that_cannot_load_the_function_end_in_seconds_and_status_names_the_reason(
    scheduler, request, user_module, tmp_path, capsys
):
    request.getfixturevalue(scheduler)  # skips without that cluster
    user_module("preflightmodel", MODEL)
    import preflightmodel

    runner = xyz.Runner(
        preflightmodel.model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(3)}
    )
    crop = runner.Crop(name=f"noload{scheduler}", batchsize=2)
    crop.sow_combos(COMBOS)  # 6 batches: 3 tasks of 2 workers
    _function_of_a_module_that_is_then_deleted(crop.layout, tmp_path / "session")
    began = time.monotonic()
    job = crop.grow(scheduler=scheduler, workers_per_task=2, walltime="0:10:0")
    try:
        left = job.wait(timeout_s=120, poll_interval_s=0.5)
        waited_s = time.monotonic() - began
        assert sorted(left) == list(range(1, 7)) and waited_s < 60
        deadline = time.monotonic() + 60
        # accounting lists ended tasks too (failed, here): only pending or running ones count
        while still_active(job.scheduler_states(0.5)) and time.monotonic() < deadline:
            time.sleep(0.5)
        ended_s = time.monotonic() - began
        assert not still_active(job.scheduler_states(0.0)), "tasks still queued or running"
        with capsys.disabled():
            print(f"\n{scheduler}: wait() returned in {waited_s:.1f} s, none left {ended_s:.1f} s")
        assert ended_s < 60
        state = crop.status()
        assert (state.failed, state.running, state.done) == (6, 0, 0)
        reasons = job.failures()
        assert sorted(reasons) == list(range(1, 7))
        reason = "FunctionLoadError: No module named 'submitonly'"
        assert all(r.startswith(reason) for r in reasons.values())
        from xyzfarm.cli import main

        main(["status", "--name", crop.name])
        assert "FunctionLoadError: No module named 'submitonly'" in capsys.readouterr().out
        with pytest.warns(UserWarning, match="not retried"):
            assert sorted(job.wait(retries=1, poll_interval_s=0.5)) == list(range(1, 7))
        assert len(job.job_ids) == 1  # resubmitting unchanged would fail the same way
    finally:
        job.cancel()


# -- gentle on the scheduler: one call per poll, whatever the number of tasks -----------------


def _count_scheduler_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every scheduler command, at the one seam that runs them."""
    from xyzfarm.schedulers import shell

    calls: list[list[str]] = []
    real = shell.run

    def counted(argv: Any, **kwargs: Any) -> Any:
        calls.append(list(argv))
        return real(argv, **kwargs)

    monkeypatch.setattr(shell, "run", counted)
    return calls


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
def test_a_poll_of_a_10000_task_crop_makes_one_scheduler_call_and_none_once_done_on_disk(
    scheduler, request, monkeypatch
):
    request.getfixturevalue(scheduler)  # skips without that cluster
    hold = "#SBATCH --hold" if scheduler == "slurm" else "#$ -h"
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="many", batchsize=1)
    crop.sow_combos({"x": range(10_000)})
    job = crop.grow(scheduler=scheduler, extra_directives=[hold])  # held: nothing runs
    try:
        assert len(job.task_batches) == 10_000
        deadline = time.monotonic() + 30
        while not job.poll():  # sacct knows of a job a moment after sbatch does
            assert time.monotonic() < deadline
            time.sleep(0.5)
        calls = _count_scheduler_calls(monkeypatch)
        started = time.perf_counter()
        for _ in range(3):
            ends = job.poll()
            assert ends and not any(e.final for e in ends.values())
        seconds = (time.perf_counter() - started) / 3
        assert len(calls) == 3, calls  # one call per poll
        print(
            f"\n{scheduler}: {len(calls) / 3:.0f} call per poll of 10,000 tasks "
            f"({calls[0][0]}), {seconds:.2f} s per poll"
        )
        # files first: batches done on disk are not asked about; all done, nothing is asked
        crop.grow(verbosity=0)
        calls.clear()
        assert job.poll() == {} and calls == []
    finally:
        job.cancel()


def test_a_retry_raises_only_the_resource_that_ran_out_and_resubmits_the_rest_unchanged():
    from xyzfarm.crop.retry_requests import by_failure, escalate
    from xyzfarm.folder.failures import write_failure
    from xyzfarm.folder.manifest import Manifest
    from xyzfarm.schedulers.resources import resources_from

    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="classes", batchsize=1)
    crop.sow_combos({"x": range(7)})
    kinds = ["TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "FAILED", "CANCELLED"]
    # as the job's poll records them: with the crop's sowing
    sowing = Manifest.read(crop.layout).sowing_id
    for batch, kind in enumerate(kinds, start=1):
        write_failure(
            crop.layout, batch, error_type=kind, message="ended", scheduler=True, sowing=sowing
        )
    groups = by_failure(crop.layout, list(range(1, 8)))
    assert groups == {
        "time": [1],
        "memory": [2],
        "other": [3, 4, 5, 7],  # 7: no failure recorded (missing): the same again
        "cancelled": [6],
    }
    res = resources_from(walltime="1:00:00", mem_gb=2)
    assert (escalate(res, "time").walltime, escalate(res, "time").mem_gb) == ("02:00:00", 2)
    assert (escalate(res, "memory").walltime, escalate(res, "memory").mem_gb) == ("01:00:00", 4)
    assert escalate(res, "other") == res
