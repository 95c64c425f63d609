"""Contract tests: every registered scheduler module offers the same pure interface."""

from __future__ import annotations

import pytest

from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers import REGISTRY, get
from xyzfarm.schedulers.arrays import plan_arrays
from xyzfarm.schedulers.resources import resources_from


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_scheduler_has_the_whole_interface(name):
    mod = get(name)
    for attr in (
        "NAME",
        "TEMPLATE",
        "FIRST_INDEX",
        "INDEX_VAR",
        "directives",
        "submit_argv",
        "parse_job_id",
        "query_argv",
        "parse_states",
        "cancel_argv",
        "max_array_size",
        "max_submit_jobs",
        "after_all_argv",
        "throttle_update_argv",
    ):
        assert hasattr(mod, attr), f"{name} lacks {attr}"
    assert name == mod.NAME and mod.FIRST_INDEX in (0, 1)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_directives_carry_every_requested_resource(name):
    mod = get(name)
    (chunk,) = plan_arrays([1, 2, 3], max_array_size=100, first_index=mod.FIRST_INDEX)
    res = resources_from(
        walltime="2:0:0", mem_gb=4, partition="p1", account="acc", array_throttle=2
    )
    text = "\n".join(mod.directives(res, chunk, cpus=3))
    for needle in ("02:00:00", "p1", "acc", "xyzfarm"):
        assert needle in text, (name, needle)
    assert all(line.startswith("#") for line in text.splitlines())


def test_an_unknown_scheduler_is_refused_listing_the_known_ones():
    with pytest.raises(InvalidInputError, match=r"'lsf'.*\['pbs', 'sge', 'slurm'\]"):
        get("lsf")


def test_job_ids_and_states_are_parsed_from_real_answers():
    slurm, pbs, sge = REGISTRY["slurm"], REGISTRY["pbs"], REGISTRY["sge"]
    assert slurm.parse_job_id("1234\n") == "1234"
    assert slurm.parse_job_id("1234;cluster\n") == "1234"
    assert slurm.parse_states("12_0 RUNNING\n12_1 PENDING\n") == {
        "12_0": "RUNNING",
        "12_1": "PENDING",
    }
    assert pbs.parse_job_id("4567[].pbs01\n") == "4567[].pbs01"
    assert sge.parse_job_id("89.1-10:1\n") == "89"


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
    assert sge.accounting_argv("12")[:3] == ["qacct", "-j", "12"]
    assert "-b" in sge.accounting_argv("12", since_epoch=1e9)


def test_schedulers_with_accounting_offer_the_same_accounting_interface():
    for name in ("slurm", "sge"):
        mod = REGISTRY[name]
        for attr in ("accounting_argv", "parse_accounting", "task_key"):
            assert hasattr(mod, attr), f"{name} lacks {attr}"
