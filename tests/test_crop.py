from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.errors import CropMismatchError, InvalidInputError, LocationError, OutputMismatchError
from xyzfarm.folder.failures import write_failure
from xyzfarm.folder.manifest import Manifest

MODEL = """
import numpy as np
def model(n, beta, seed=0):
    return n * beta + seed, np.arange(4) * beta + n
"""
COMBOS = {"n": [4, 8, 16], "beta": [0.1, 0.5, 1.0], "seed": [0, 1]}
# a crop sows combos sorted by name, as xyzpy does: its reaped dims are in that order
CROP_ORDER = dict(sorted(COMBOS.items()))


@pytest.fixture
def runner(user_module):
    user_module("cropmodel", MODEL)
    import cropmodel

    return xyz.Runner(
        cropmodel.model,
        ["energy", "levels"],
        var_dims={"levels": ["k"]},
        var_coords={"k": range(4)},
        attrs={"who": "test"},
    )


def test_sow_grow_in_process_then_reap_equals_run_combos(runner):
    crop = runner.Crop(name="ip", batchsize=5)
    crop.sow_combos(COMBOS)
    crop.grow(verbosity=0)
    ds = crop.reap()
    xr.testing.assert_identical(without_provenance(ds), runner.run_combos(CROP_ORDER, verbosity=0))
    assert runner.last_ds is not None and not crop.is_prepared()


def test_sow_grow_in_two_pinned_workers_then_reap_into_a_harvester_equals_run_combos(runner):
    h = xyz.Harvester(runner, data_name="full.h5")
    crop = h.Crop(name="pool", batchsize=2)
    crop.sow_combos(COMBOS, shuffle=True)
    state = crop.grow(num_workers=2, num_threads=1, verbosity=0)
    assert state.done == state.total == 9
    crop.reap()
    with xr.open_dataset("full.h5", engine="h5netcdf") as on_disk:
        xr.testing.assert_identical(
            without_provenance(on_disk.load()), runner.run_combos(CROP_ORDER, verbosity=0)
        )


def test_status_and_repr_count_batches_by_state(runner):
    crop = runner.Crop(name="st", batchsize=6)
    assert "not sown" in repr(crop)
    crop.sow_combos(COMBOS)
    crop.grow(batch_ids=[1], verbosity=0)
    # batch 2 failed, as a grower of this crop records it (with the crop's sowing)
    write_failure(
        crop.layout,
        2,
        error_type="ValueError",
        message="bad",
        sowing=Manifest.read(crop.layout).sowing_id,
    )
    state = crop.status()
    assert (state.total, state.done, state.failed, state.running, state.missing) == (3, 1, 1, 0, 1)
    assert "1/3 done, 1 failed, 0 running, 1 missing" in repr(crop)


def test_a_crop_is_found_again_by_name_and_resumes(runner):
    crop = runner.Crop(name="again", batchsize=6)
    crop.sow_combos(COMBOS)
    crop.grow(batch_ids=[2], verbosity=0)
    found = xyz.load_crops(".")
    assert list(found) == ["again"] and found["again"].status().done == 1
    crop2 = runner.Crop(name="again", batchsize=6)
    crop2.sow_combos(COMBOS)  # same sweep: nothing changes
    assert crop2.status().done == 1
    crop2.grow_missing(verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop2.reap()), runner.run_combos(CROP_ORDER, verbosity=0)
    )


def test_once_sown_num_batches_and_batchsize_give_the_sown_plan_as_xyzpy(runner):
    crop = runner.Crop(name="plan", batchsize=5)
    assert (crop.num_batches, crop.batchsize) == (None, 5)
    crop.sow_combos(COMBOS)  # 18 cases
    assert (crop.num_batches, crop.batchsize) == (4, 5)
    assert xyz.Crop(name="plan").num_batches == 4  # found again by name
    crop.sow_combos(COMBOS)  # the same sweep again still sows with what was asked for
    assert crop.num_batches == 4


def test_resowing_a_different_sweep_under_the_same_name_is_refused(runner):
    crop = runner.Crop(name="fp", batchsize=6)
    crop.sow_combos(COMBOS)
    with pytest.raises(CropMismatchError):
        crop.sow_combos({**COMBOS, "seed": [0, 1, 2]})


def test_growing_an_unsown_crop_says_to_sow_first(runner):
    with pytest.raises(InvalidInputError, match="sow"):
        runner.Crop(name="none").grow()


def test_reaping_twice_gives_the_same_data_once(runner):
    h = xyz.Harvester(runner, data_name="full.h5")
    crop = h.Crop(name="twice", batchsize=9)
    crop.sow_combos(COMBOS)
    crop.grow(verbosity=0)
    crop.reap(clean_up=False)
    first = without_provenance(xyz.load_ds("full.h5"))
    crop.reap()
    xr.testing.assert_identical(without_provenance(xyz.load_ds("full.h5")), first)
    with pytest.warns(UserWarning, match="reaped already"):
        crop.reap()
    xr.testing.assert_identical(without_provenance(xyz.load_ds("full.h5")), first)


REAPER = """
import sys, xyzfarm as xyz
ds = xyz.Crop(name="conc", parent_dir=sys.argv[1]).reap()
"""


def test_two_processes_reaping_at_once_merge_the_data_once(runner, python, tmp_path):
    h = xyz.Harvester(runner, data_name=tmp_path / "full.h5")
    crop = h.Crop(name="conc", parent_dir=tmp_path, batchsize=3)
    crop.sow_combos(COMBOS)
    crop.grow(verbosity=0)
    import os
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen([python, "-c", REAPER, str(tmp_path)], env=env) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    xr.testing.assert_identical(
        without_provenance(xyz.load_ds(tmp_path / "full.h5")),
        runner.run_combos(CROP_ORDER, verbosity=0),
    )
    assert not crop.is_prepared()


def test_two_partial_copies_of_a_crop_reap_to_their_union(runner, tmp_path):
    h = xyz.Harvester(runner, data_name="full.h5")
    crop = h.Crop(name="half", parent_dir=tmp_path / "cluster", batchsize=3)
    crop.sow_combos(COMBOS)
    shutil.copytree(crop.location, tmp_path / "laptop" / ".xyz-half")
    crop.grow(batch_ids=[1, 2, 3], verbosity=0)  # half on the cluster ...
    laptop = h.Crop(name="half", parent_dir=tmp_path / "laptop", batchsize=3)
    laptop.grow(batch_ids=[4, 5, 6], verbosity=0)  # ... half on the laptop
    crop.reap(allow_incomplete=True)
    laptop.reap(allow_incomplete=True)
    xr.testing.assert_identical(
        without_provenance(xyz.load_ds("full.h5")), runner.run_combos(CROP_ORDER, verbosity=0)
    )


def test_crop_names_default_to_the_function_name(runner):
    assert runner.Crop().name == "model"
    with pytest.raises(InvalidInputError, match="name"):
        xyz.Crop(fn=lambda x: x)


def test_ellipsis_in_sown_combos_takes_the_harvesters_existing_values(runner):
    h = xyz.Harvester(runner, data_name="full.h5")
    h.harvest_combos({"n": [4, 8], "beta": [0.1], "seed": [0]}, verbosity=0)
    crop = h.Crop(name="ell")
    crop.sow_combos({"n": ..., "beta": [0.5], "seed": [0]})
    crop.grow(verbosity=0)
    crop.reap()
    assert np.isfinite(xyz.load_ds("full.h5").energy).all()


def test_a_bit_flipped_in_a_coordinate_of_the_manifest_stops_grow_and_reap():
    from xyzfarm.errors import CropFormatError

    crop = xyz.Runner(lambda a, b: a * b * 1.0, "p").Crop(name="flip", batchsize=2)
    crop.sow_combos({"a": [1, 2], "b": [4, 5]})
    crop.grow(batch_ids=[1], verbosity=0)
    raw = bytearray(crop.layout.manifest.read_bytes())
    raw[raw.index(b"5", raw.index(b'"b": ['))] ^= 0x02  # b=5 now reads b=7
    crop.layout.manifest.write_bytes(bytes(raw))
    with pytest.raises(CropFormatError, match=r"crop\.json"):
        crop.grow(verbosity=0)
    with pytest.raises(CropFormatError, match=r"crop\.json"):
        crop.reap()
    assert crop.layout.root.is_dir()  # nothing labelled b=7 was published, nothing deleted


def test_a_crop_name_too_long_for_the_filesystem_is_refused_at_construction(runner):
    with pytest.raises(InvalidInputError, match=r"300 bytes long, over the limit of \d+ bytes"):
        xyz.Crop(farmer=runner, name="n" * 300)
    assert not list(Path(".").glob(".xyz-*"))


def test_a_parent_dir_that_is_a_file_is_refused_at_construction_naming_it(runner):
    Path("afile").write_text("")
    for parent in ("afile", "afile/below"):
        with pytest.raises(LocationError, match=r"'.*afile' is a file, not a folder"):
            xyz.Crop(farmer=runner, name="c", parent_dir=parent)


def test_a_crop_of_a_labelled_function_takes_its_outputs_description(runner):
    labelled = xyz.label(
        ["energy", "levels"], var_dims={"levels": ["k"]}, var_coords={"k": range(4)}
    )(runner.fn)
    crop = xyz.Crop(fn=labelled, batchsize=6)
    assert crop.name == "model" and crop.fn is runner.fn
    crop.sow_combos(COMBOS)
    crop.grow(verbosity=0)
    ds = crop.reap()  # was: refused after every case ran, the outputs taken as self-labelled
    expected = labelled.run_combos(CROP_ORDER, verbosity=0)
    xr.testing.assert_identical(without_provenance(ds), expected)


def test_a_labelled_function_described_otherwise_than_its_farmer_is_refused_before_sowing(runner):
    other = xyz.label(["energy", "spectrum"], var_dims={"spectrum": ["k"]})(runner.fn)
    with pytest.raises(OutputMismatchError, match=r"'energy', 'spectrum'.*'energy', 'levels'"):
        xyz.Crop(fn=other, farmer=runner)
    alike = xyz.label(["energy", "levels"], var_dims={"levels": ["k"]}, var_coords={"k": range(4)})(
        runner.fn
    )
    assert xyz.Crop(fn=alike, farmer=runner).farmer is runner
