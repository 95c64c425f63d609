"""The protocol a crop asks of its farmer (xyzfarm.crop.farmer), as the farmers implement it."""

from __future__ import annotations

import pytest

import xyzfarm as xyz
from xyzfarm.crop.farmer import Farmer, ReapTarget, as_sampler, runner_of
from xyzfarm.errors import InvalidInputError


def square(x):
    return x * x


def make_runner():
    return xyz.Runner(square, "y")


def test_a_runner_a_harvester_and_a_sampler_are_all_farmers_a_plain_function_is_not():
    runner = make_runner()
    for farmer in (runner, xyz.Harvester(runner), xyz.Sampler(runner)):
        assert isinstance(farmer, Farmer)
        assert runner_of(farmer) is runner
    assert not isinstance(square, Farmer)
    assert runner_of(None) is None


def test_something_else_given_as_farmer_is_refused_by_name():
    with pytest.raises(InvalidInputError, match="Runner, Harvester or Sampler"):
        runner_of(square)


def test_each_farmer_says_where_its_reaped_results_go(tmp_path):
    runner = make_runner()
    data = str(tmp_path / "full.h5")
    table = str(tmp_path / "full.pkl")
    assert runner.reap_target == ReapTarget("runner")
    assert xyz.Harvester(runner, data_name=data).reap_target == ReapTarget(
        "harvester", data, "h5netcdf"
    )
    assert xyz.Sampler(runner, data_name=table).reap_target == ReapTarget(
        "sampler", table, "pickle"
    )


def test_only_a_sampler_is_taken_for_sampling():
    runner = make_runner()
    sampler = xyz.Sampler(runner)
    assert as_sampler(sampler) is sampler
    assert as_sampler(runner) is None
    assert as_sampler(xyz.Harvester(runner)) is None
    assert as_sampler(None) is None


def test_a_runner_keeps_a_reaped_dataset_as_its_last_ds_with_its_provenance():
    runner = make_runner()
    ds = runner.run_combos({"x": [1, 2]})
    assert runner.take_reaped(ds, None, sync=True, overwrite=None) is ds
    assert runner.delivered() is ds
    assert runner.last_provenance is None
