"""LSF: no daemon can be installed here. Its scripts are checked by their golden copies and by
running their bodies under bash with LSF's variables set (the ``task_body`` fixture); its
commands (bsub, bjobs, bkill, brequeue) are stand-in programs on ``PATH`` that record what
they were given and answer as LSF 10.1 does, at the one seam where xyzfarm starts them."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

import xyzfarm as xyz
from xyzfarm.cli import main
from xyzfarm.crop import cluster
from xyzfarm.crop.submit_options import SubmitOptions
from xyzfarm.schedulers import REGISTRY, job_environment
from xyzfarm.schedulers.base import JobEnvironment, State

lsf = REGISTRY["lsf"]

SLOW = """
import os, time
def f(x):
    with open(os.environ["CASES_LOG"], "a") as log:
        log.write(f"{x} {os.environ.get('LSB_JOBINDEX')}\\n")
    time.sleep(float(os.environ.get("CASE_SLEEP", "0")))
    return x * 1.0
"""

BJOBS = """\
4321 1 DONE
4321 2 RUN
4321 3 PEND
4321 4 EXIT
4321 5 PSUSP
4321 6 USUSP
4321 7 ZOMBI
4322 0 RUN
"""


@pytest.fixture
def fake_lsf(tmp_path, monkeypatch):
    """``bsub``, ``bjobs``, ``bkill`` and ``brequeue`` stand-ins: each appends its argv (and
    bsub its standard input) to ``calls.jsonl``, and answers as LSF would."""
    bin_dir = tmp_path / "lsfbin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    answers = {
        "bsub": 'print("Job <4321> is submitted to default queue <normal>.")',
        # an id LSF has forgotten (after CLEAN_PERIOD) is "not found", and the status is 255
        "bjobs": f"print({BJOBS!r}, end='')\n"
        "if '4000' in sys.argv:\n"
        "    print('Job <4000> is not found', file=sys.stderr)\n"
        "    sys.exit(255)",
        "bkill": 'print("Job <4321> is being terminated")',
        "brequeue": 'print("Job <4321> is being requeued")',
    }
    for name, answer in answers.items():
        program = bin_dir / name
        program.write_text(
            f"#!{sys.executable}\n"
            "import json, sys\n"
            f"stdin = sys.stdin.read() if {name == 'bsub'} else None\n"
            f"with open({str(calls)!r}, 'a') as f:\n"
            "    f.write(json.dumps({'argv': sys.argv, 'stdin': stdin}) + '\\n')\n"
            f"{answer}\n"
        )
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def recorded() -> list[dict]:
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text().splitlines()]

    return recorded


@pytest.fixture
def slow_runner(user_module, tmp_path, monkeypatch):
    """A runner of a function that logs each case it starts (and sleeps ``CASE_SLEEP``)."""
    user_module("lsfmodel", SLOW)
    import lsfmodel

    monkeypatch.setenv("CASES_LOG", str(tmp_path / "cases.log"))
    return xyz.Runner(lsfmodel.f, "y")


@pytest.fixture
def slow_crop(slow_runner):
    return slow_runner.Crop(name="lsf", batchsize=4)


def cases_started(tmp_path: Path) -> list[str]:
    log = tmp_path / "cases.log"
    return log.read_text().splitlines() if log.exists() else []


def test_lsf_is_listed_by_the_command_lines_scheduler_choices(capsys):
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    choices = capsys.readouterr().out.split("--scheduler", 1)[1].split()[0]
    assert "lsf" in choices.strip("{}").split(",")


def test_an_lsf_array_is_one_named_range_with_its_throttle_and_walltime_in_minutes():
    from xyzfarm.schedulers.arrays import plan_arrays
    from xyzfarm.schedulers.resources import resources_from

    (chunk,) = plan_arrays(list(range(1, 9)), max_array_size=1001, first_index=1)
    res = resources_from(job_name="sweep", walltime="1:5:30", array_throttle=4, mem_gb=2)
    lines = lsf.directives(res, chunk, cpus=2)
    assert '#BSUB -J "sweep[1-8]%4"' in lines
    assert "#BSUB -W 66" in lines  # 65.5 minutes, rounded up
    assert "#BSUB -n 2" in lines and "#BSUB -M 2048MB" in lines


def test_an_lsf_array_script_grows_its_batches_and_records_the_lsf_job_in_provenance(
    slow_crop, task_body
):
    slow_crop.sow_combos({"x": range(12)})
    (script,) = cluster.render_scripts(
        slow_crop.layout, [1, 2, 3], SubmitOptions.from_keywords(scheduler="lsf")
    ).scripts
    assert '#BSUB -J "lsf[1-3]"' in script.read_text()
    for index in (1, 2, 3):
        task_body.run(script, {"LSB_JOBID": "4321", "LSB_JOBINDEX": str(index)})
    assert slow_crop.status().done == 3
    assert list(slow_crop.reap().y.values) == [float(x) for x in range(12)]
    prov = slow_crop.provenance
    assert set(prov.xyz_job.values) == {"4321"}
    assert sorted(set(prov.xyz_task.values)) == ["1", "2", "3"]
    # index k grew batch k: cases 4(k-1) .. 4k-1
    assert [str(t) for t in prov.xyz_task.values] == [str(1 + x // 4) for x in range(12)]


def test_the_worker_reads_the_lsf_environment_through_the_registry():
    env = {"LSB_JOBID": "4321", "LSB_JOBINDEX": "7"}
    assert job_environment(env) == JobEnvironment("lsf", "4321", "7", None)
    assert job_environment({"LSB_JOBID": "99", "LSB_JOBINDEX": "0"}).task_index == ""


def test_bsub_gets_the_script_on_stdin_and_bjobs_states_are_read_and_bkill_cancels(
    slow_crop, fake_lsf
):
    slow_crop.sow_combos({"x": range(8)})
    job = slow_crop.grow(scheduler="lsf", walltime="0:30:0")
    assert job.job_ids == ["4321"]
    (submitted,) = fake_lsf()
    assert submitted["argv"][1:] == []
    script = next(slow_crop.layout.root.glob("jobs/*/chunk-0.sh"))
    assert submitted["stdin"] == script.read_text()
    assert f"bsub < {script}" in script.read_text().replace("'", "")
    assert job.scheduler_states(min_interval_s=0) == {
        "4321[1]": State.DONE,
        "4321[2]": State.RUNNING,
        "4321[3]": State.PENDING,
        "4321[4]": State.FAILED,
        "4321[5]": State.PENDING,
        "4321[6]": State.RUNNING,
        "4321[7]": State.UNKNOWN,
    }  # 4322 is another job's: left out
    assert fake_lsf()[-1]["argv"][1:] == ["-noheader", "-o", "jobid jobindex stat", "4321"]
    job.cancel()
    assert fake_lsf()[-1]["argv"][1:] == ["4321"]
    assert Path(fake_lsf()[-1]["argv"][0]).name == "bkill"


def test_bsubs_answer_gives_the_job_id_and_a_strange_answer_is_refused():
    from xyzfarm.schedulers.shell import SchedulerError

    assert lsf.parse_job_id("Job <88> is submitted to queue <short>.\n") == "88"
    with pytest.raises(SchedulerError, match="bsub"):
        lsf.parse_job_id("Request aborted by esub. Job not submitted.\n")


def _warn_after_two_cases(script, task_body, tmp_path, env):
    """Start the task, let it finish some cases, then send what ``-wa USR1`` sends."""
    before = len(cases_started(tmp_path))
    proc = task_body.start(script, env)
    deadline = time.monotonic() + 60
    while len(cases_started(tmp_path)) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def test_a_warned_lsf_task_requeues_itself_with_brequeue_once_then_records_a_timeout(
    slow_runner, task_body, fake_lsf, tmp_path, monkeypatch
):
    monkeypatch.setenv("CASE_SLEEP", "0.3")
    slow_crop = slow_runner.Crop(name="lsf", batchsize=8)  # one batch, one task
    slow_crop.sow_combos({"x": range(8)})
    plan = cluster.render_scripts(
        slow_crop.layout, [1], SubmitOptions.from_keywords(scheduler="lsf", max_requeues=1)
    )
    (script,) = plan.scripts
    env = {"LSB_JOBID": "4321", "LSB_JOBINDEX": "1"}
    code, out = _warn_after_two_cases(script, task_body, tmp_path, env)
    assert code == 128 + signal.SIGUSR1, out
    (requeue,) = fake_lsf()
    assert Path(requeue["argv"][0]).name == "brequeue" and requeue["argv"][1:] == ["4321[1]"]
    assert "requeued" in out
    # LSF starts the element again, same id and index: it resumes from its checkpoint, and its
    # second warning finds the budget (1 requeue) spent, counted by xyzfarm since LSF does not
    code, out = _warn_after_two_cases(script, task_body, tmp_path, env)
    assert len(fake_lsf()) == 1, "no second brequeue"
    assert "requeue budget spent" in out
    record = json.loads(slow_crop.layout.failed(1).read_text())["attempts"][-1]
    assert record["error_type"] == "Timeout" and record["restart_count"] == 1
    # a third start (e.g. the retry) finishes the batch without losing a case
    task_body.run(script, env)
    assert list(slow_crop.reap().y.values) == [float(x) for x in range(8)]
    started = [line.split()[0] for line in cases_started(tmp_path)]
    assert sorted(set(started)) == [str(x) for x in range(8)]
    assert len(started) - 8 <= 2  # at most the case in flight at each warning ran twice


def test_without_a_requeue_budget_a_warned_lsf_task_records_a_timeout_at_once(
    slow_runner, task_body, fake_lsf, tmp_path, monkeypatch
):
    monkeypatch.setenv("CASE_SLEEP", "0.3")
    slow_crop = slow_runner.Crop(name="lsf", batchsize=8)
    slow_crop.sow_combos({"x": range(8)})
    (script,) = cluster.render_scripts(
        slow_crop.layout, [1], SubmitOptions.from_keywords(scheduler="lsf", max_requeues=0)
    ).scripts
    _warn_after_two_cases(script, task_body, tmp_path, {"LSB_JOBID": "5", "LSB_JOBINDEX": "1"})
    assert fake_lsf() == []
    record = json.loads(slow_crop.layout.failed(1).read_text())["attempts"][-1]
    assert record["error_type"] == "Timeout"


def test_a_job_lsf_has_forgotten_does_not_hide_the_states_of_the_others(slow_crop, fake_lsf):
    from xyzfarm.crop.submit import ClusterJob

    slow_crop.sow_combos({"x": range(8)})
    job = ClusterJob(slow_crop.layout, "lsf", ["4000", "4321"], [1, 2], slow_crop.layout.root)
    states = job.scheduler_states(min_interval_s=0)
    assert states["4321[2]"] == State.RUNNING and "4000" not in states
