"""The protocol a crop asks of its farmer (xyzfarm.crop.farmer), as the farmers implement it."""

from __future__ import annotations

import subprocess

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


FIND_BY_NAME = """
import sys
{imports}
crop = Crop(name="found", parent_dir=sys.argv[1])
print(type(crop.farmer).__name__, crop.farmer and crop.farmer.data_name)
"""


def _found_by_name(python, python_env, folder, imports):
    code = FIND_BY_NAME.format(imports=imports)
    out = subprocess.run(
        [python, "-c", code, str(folder)],
        env=python_env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_a_crop_found_by_name_in_a_new_interpreter_gets_back_the_harvester_it_was_sown_for(
    python, python_env, tmp_path
):
    data = tmp_path / "full.h5"
    xyz.Harvester(make_runner(), data_name=data).Crop(name="found", parent_dir=tmp_path).sow_combos(
        {"x": [1, 2]}
    )
    # xyzfarm.Crop loads the farmers' constructors (labelling) first: nothing else imported
    found = _found_by_name(python, python_env, tmp_path, "from xyzfarm import Crop")
    assert found == ["Harvester", str(data)]


def test_the_crop_layer_alone_finds_a_crop_by_name_without_rebuilding_its_farmer(
    python, python_env, tmp_path
):
    # the crop layer never imports the farmers: without them loaded, no farmer is rebuilt
    xyz.Sampler(make_runner()).Crop(name="found", parent_dir=tmp_path).sow_combos({"x": [1]})
    found = _found_by_name(python, python_env, tmp_path, "from xyzfarm.crop.crop import Crop")
    assert found == ["NoneType", "None"]
