"""Contract tests: every scheduler module the registry finds offers the whole protocol, and the
registry alone drives what depends on the set of schedulers."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import xyzfarm as xyz
from xyzfarm.cli import main
from xyzfarm.crop import cluster
from xyzfarm.crop.submit_options import SubmitOptions
from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers import REGISTRY, get, job_environment
from xyzfarm.schedulers.arrays import plan_arrays
from xyzfarm.schedulers.base import JobEnvironment, Scheduler, State, missing_members
from xyzfarm.schedulers.render import search_path
from xyzfarm.schedulers.resources import resources_from

ALL = sorted(REGISTRY)


def double(x):
    return 2.0 * x


@pytest.mark.parametrize("name", ALL)
def test_each_scheduler_has_the_whole_protocol_and_a_template(name):
    mod = get(name)
    assert isinstance(mod, Scheduler) and missing_members(mod) == []
    assert name == mod.NAME and mod.FIRST_INDEX in (0, 1)
    assert f"{name}.sh.j2" == mod.TEMPLATE
    assert any((folder / mod.TEMPLATE).is_file() for folder in search_path())


@pytest.mark.parametrize("name", ALL)
def test_directives_carry_every_requested_resource_and_the_throttle(name):
    mod = get(name)
    (chunk,) = plan_arrays([1, 2, 3], max_array_size=100, first_index=mod.FIRST_INDEX)
    res = resources_from(
        walltime="2:0:0", mem_gb=4, partition="p1", account="acc", array_throttle=7
    )
    text = "\n".join(mod.directives(res, chunk, cpus=3))
    for needle in ("p1", "acc", "xyzfarm", "7", "3"):
        assert needle in text, (name, needle)
    assert "02:00:00" in text or "120" in text  # HH:MM:SS, or minutes (LSF's -W)
    assert all(line.startswith("#") for line in text.splitlines())


@pytest.mark.parametrize("name", ALL)
def test_argv_builders_are_pure_and_name_every_job(name):
    mod = get(name)
    assert mod.cancel_argv(["11", "12"])[-2:] == ["11", "12"]
    query = mod.query_argv(["11", "12"])
    assert all(isinstance(a, str) for a in query)
    assert mod.dependency_directive(["11", "12"]).startswith("#")
    assert "11" in mod.dependency_directive(["11", "12"])
    script = "/crops/it's here/chunk-0.sh"
    assert (script in mod.submit_argv(script)) != mod.SCRIPT_ON_STDIN


@pytest.mark.parametrize("name", ALL)
def test_an_empty_answer_lists_no_task_so_the_state_stays_unknown(name):
    assert get(name).parse_states("") == {}


@pytest.mark.parametrize("name", ALL)
def test_no_scheduler_claims_an_environment_outside_a_job(name):
    env = {"HOME": "/home/me", "PATH": "/usr/bin", "SLURM_CONF": "/etc/slurm.conf"}
    assert get(name).job_environment(env) is None


def test_an_unknown_scheduler_is_refused_listing_the_known_ones():
    with pytest.raises(InvalidInputError, match=re.escape(str(ALL))):
        get("loadleveler")


def test_the_registry_drives_the_command_lines_scheduler_choices(python_env):
    help_text = subprocess.run(
        [sys.executable, "-m", "xyzfarm", "submit", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=python_env,
    ).stdout
    assert "{" + ",".join(REGISTRY) + "}" in help_text


def test_the_command_line_without_a_scheduler_lists_every_registered_one(capsys):
    xyz.Runner(double, "y").Crop(name="noshed").sow_combos({"x": [1]})
    assert main(["submit", "noshed"]) != 0
    assert "--scheduler " + "|".join(REGISTRY) in capsys.readouterr().err


def test_cluster_options_refuse_an_unknown_scheduler_before_planning():
    crop = xyz.Runner(double, "y").Crop(name="unknown")
    crop.sow_combos({"x": [1]})
    with pytest.raises(InvalidInputError, match="loadleveler"):
        cluster.render_scripts(
            crop.layout, [1], SubmitOptions.from_keywords(scheduler="loadleveler")
        )
    assert not (crop.layout.root / "jobs").exists()


def test_job_ids_and_states_are_parsed_from_real_answers():
    slurm, pbs, sge = REGISTRY["slurm"], REGISTRY["pbs"], REGISTRY["sge"]
    assert slurm.parse_job_id("1234\n") == "1234"
    assert slurm.parse_job_id("1234;cluster\n") == "1234"
    assert slurm.parse_states("12_0 RUNNING\n12_1 PENDING\n12_2 COMPLETING\n12_3 WEIRD\n") == {
        "12_0": State.RUNNING,
        "12_1": State.PENDING,
        "12_2": State.RUNNING,
        "12_3": State.UNKNOWN,
    }
    assert pbs.parse_job_id("4567[].pbs01\n") == "4567[].pbs01"
    qstat_t = (
        "Job id            Name             User              Time Use S Queue\n"
        "----------------  ---------------- ----------------  -------- - -----\n"
        "4567[].pbs01      sweep            me                       0 B workq\n"
        "4567[0].pbs01     sweep            me                00:00:03 R workq\n"
        "4567[1].pbs01     sweep            me                       0 Q workq\n"
        "4567[2].pbs01     sweep            me                00:00:09 X workq\n"
    )
    assert pbs.parse_states(qstat_t) == {
        "4567[].pbs01": State.RUNNING,
        "4567[0].pbs01": State.RUNNING,
        "4567[1].pbs01": State.PENDING,
        "4567[2].pbs01": State.DONE,
    }
    assert sge.parse_job_id("89.1-10:1\n") == "89"
    qstat_gd = (
        "job-ID  prior   name       user   state submit/start at     queue  slots ja-task-ID\n"
        "-----------------------------------------------------------------------------------\n"
        "     89 0.55500 sweep      me     r     12/02/2026 16:01:02 all.q@n1   1 1\n"
        "     89 0.00000 sweep      me     qw    12/02/2026 16:01:00            1 2\n"
        "     89 0.00000 sweep      me     Eqw   12/02/2026 16:01:00            1 3\n"
    )
    assert sge.parse_states(qstat_gd) == {
        "89.1": State.RUNNING,
        "89.2": State.PENDING,
        "89.3": State.FAILED,
    }


def test_each_scheduler_reads_its_own_job_environment():
    assert job_environment(
        {
            "SLURM_ARRAY_JOB_ID": "12",
            "SLURM_JOB_ID": "15",
            "SLURM_ARRAY_TASK_ID": "3",
            "SLURM_RESTART_COUNT": "2",
        }
    ) == JobEnvironment("slurm", "12", "3", 2)
    assert job_environment({"PBS_JOBID": "7[1].srv", "PBS_ARRAY_INDEX": "1"}) == (
        JobEnvironment("pbs", "7[1].srv", "1", None)
    )
    assert job_environment({"JOB_ID": "89", "SGE_TASK_ID": "undefined"}) == (
        JobEnvironment("sge", "89", "", 0)
    )
    # JOB_ID alone is too generic a name to mean Grid Engine
    assert job_environment({"JOB_ID": "89"}) is None


def test_slurm_requeues_a_task_and_the_others_say_when_they_cannot():
    slurm = REGISTRY["slurm"]
    assert slurm.requeue_argv(JobEnvironment("slurm", "12", "3", 0)) == [
        "scontrol",
        "requeue",
        "12_3",
    ]
    assert slurm.requeue_argv(JobEnvironment("slurm", "12", "", 0))[-1] == "12"
    assert REGISTRY["pbs"].requeue_argv(JobEnvironment("pbs", "7", "1", None)) is None


@pytest.mark.parametrize("name", ALL)
def test_every_schedulers_script_grows_its_batches_when_run_with_its_index_variable(
    name, user_module, task_body
):
    """No daemon needed: the body runs under bash with only the scheduler's index variable
    set, as each task of the array would be started."""
    user_module(f"model_{name}", "def f(x):\n    return x * 2.0\n")
    module = __import__(f"model_{name}")
    crop = xyz.Runner(module.f, "y").Crop(name=f"body-{name}", batchsize=2)
    crop.sow_combos({"x": range(6)})
    mod = get(name)
    (script,) = cluster.render_scripts(
        crop.layout, [1, 2, 3], SubmitOptions.from_keywords(scheduler=name)
    ).scripts
    for index in range(mod.FIRST_INDEX, mod.FIRST_INDEX + 3):
        task_body.run(script, {mod.INDEX_VAR: str(index)})
    assert crop.status().done == 3
    assert list(crop.reap().y.values) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_a_module_lacking_part_of_the_protocol_is_told_what_it_lacks():
    import types

    half = types.SimpleNamespace(NAME="flux", TEMPLATE="flux.sh.j2", directives=print)
    assert not isinstance(half, Scheduler)
    assert {"submit_argv", "job_environment", "requeue_argv", "FIRST_INDEX"} <= set(
        missing_members(half)
    )


def test_a_wait_ends_only_when_no_task_is_pending_running_or_unplaced():
    from xyzfarm.schedulers.base import still_active

    assert not still_active({})
    assert not still_active({"1_0": State.DONE, "1_1": State.FAILED})
    assert still_active({"1_0": State.DONE, "1_1": State.UNKNOWN})
    assert still_active({"1_0": State.PENDING})


# -- accounting: how tasks ended (answers captured from SLURM 22.05.8 and SGE 8.1.9 here) -----

SACCT = """2|FAILED|0:9
3|CANCELLED by 0|0:0
5|RUNNING|0:0
1_0|COMPLETED|0:0
1_1|FAILED|3:0
1_0.batch|COMPLETED|0:0
4_[0-2,7%2]|PENDING|0:0
9_3|TIMEOUT|0:0
9_4|OUT_OF_MEMORY|0:125
9_5|NODE_FAIL|0:0
9_6|PREEMPTED|0:0
9_7|BOOT_FAIL|0:0
9_8|DEADLINE|0:0
not a line
"""


def test_sacct_answers_are_read_in_every_job_id_form_slurm_prints():
    slurm = REGISTRY["slurm"]
    ends = slurm.parse_accounting(SACCT)
    assert "1_0.batch" not in ends and "not a line" not in ends
    assert {k: e.state for k, e in ends.items() if e.final} == {
        "2": "FAILED",
        "3": "CANCELLED",
        "1_0": "COMPLETED",
        "1_1": "FAILED",
        "9_3": "TIMEOUT",
        "9_4": "OUT_OF_MEMORY",
        "9_5": "NODE_FAIL",
        "9_6": "PREEMPTED",
        "9_7": "NODE_FAIL",
        "9_8": "TIMEOUT",
    }
    pending = sorted(k for k, e in ends.items() if e.state == "PENDING")
    assert pending == ["4_0", "4_1", "4_2", "4_7"]  # a pending array is one line
    assert (ends["2"].exit_code, ends["2"].signal) == (0, 9)  # killed: memory or other
    assert (ends["1_1"].exit_code, ends["1_1"].signal) == (3, 0)
    assert not ends["5"].final
    assert slurm.accounting_argv(["7", "8"])[:3] == ["sacct", "-j", "7,8"]


QACCT_RECORD = """==============================================================
qname        all.q
jobnumber    {job}
taskid       {task}
qsub_time    Wed Dec  2 16:{minute}:21 2026
failed       {failed}
exit_status  {status}
ru_wallclock {wall}s
category     -l h_rt=3
"""


def qacct(job=1, task=1, minute=15, failed="0", status="0", wall=1):
    return QACCT_RECORD.format(
        job=job, task=task, minute=minute, failed=failed, status=status, wall=wall
    )


def test_qacct_records_are_classified_and_the_latest_of_a_reused_job_id_wins():
    sge = REGISTRY["sge"]
    limit = "37  : qmaster enforced h_rt, h_cpu, or h_vmem limit"
    text = (
        qacct(task=1, minute=30, failed=limit, status="137                  (Killed)", wall=4)
        + qacct(task=1, minute=10)  # the same id, from before a restart of the master
        + qacct(task=2, failed="0", status="137")
        + qacct(task=3, failed="0", status="3")
        + qacct(task=4)
        + qacct(task="undefined", status="1")
    )
    ends = sge.parse_accounting(text)
    assert {k: e.state for k, e in ends.items()} == {
        "1.1": "TIMEOUT",
        "1.2": "CANCELLED",  # SIGKILL with no limit enforced: qdel
        "1.3": "FAILED",
        "1.4": "COMPLETED",
        "1": "FAILED",
    }
    assert ends["1.3"].exit_code == 3 and ends["1.1"].signal == 9
    short = qacct(task=5, failed=limit, status="137", wall=1)  # killed before its h_rt
    assert sge.parse_accounting(short)["1.5"].state == "OUT_OF_MEMORY"
    assert sge.accounting_argv(["12"])[:3] == ["qacct", "-j", "12"]
    assert "-b" in sge.accounting_argv(["12"], since_epoch=1e9)


def test_schedulers_with_accounting_offer_the_same_accounting_interface():
    for name in ("slurm", "sge"):
        mod = REGISTRY[name]
        for attr in ("accounting_argv", "parse_accounting", "task_key"):
            assert hasattr(mod, attr), f"{name} lacks {attr}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_scheduler_has_the_whole_accounting_capability_or_none_of_it(name):
    from xyzfarm.schedulers.accounting import Accounting

    members = [
        *Accounting.__annotations__,
        *(n for n, v in vars(Accounting).items() if callable(v) and not n.startswith("_")),
    ]
    has = [m for m in members if hasattr(REGISTRY[name], m)]
    # a part of it would be taken for none (isinstance) and its accounting silently unused
    assert has in ([], members), (name, sorted(set(members) - set(has)))
    assert isinstance(REGISTRY[name], Accounting) == bool(has)


def test_a_task_name_is_read_as_its_schedulers_write_it():
    from xyzfarm.schedulers.base import job_of_task

    assert [job_of_task(t) for t in ("123_4", "89.3", "123[4]", "77")] == ["123", "89", "123", "77"]
