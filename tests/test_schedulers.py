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
