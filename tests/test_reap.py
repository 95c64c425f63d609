from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.errors import CropIncompleteError
from xyzfarm.folder.manifest import Manifest

MODEL = """
import numpy as np
def model(n, beta, seed=0):
    return n * beta + seed, np.arange(3) * beta
"""


def model_runner(mod):
    return xyz.Runner(
        mod.model,
        ["e", "g"],
        var_dims={"g": ["k"]},
        var_coords={"k": [10, 20, 30]},
        constants={"seed": 1},
        attrs={"note": "x"},
    )


def test_a_crop_copied_to_a_workstation_reaps_without_the_users_code(user_module, tmp_path, python):
    user_module("wsmodel", MODEL)
    import wsmodel

    runner = model_runner(wsmodel)
    crop = runner.Crop(name="ws", parent_dir=tmp_path / "cluster", batchsize=3)
    crop.sow_combos({"n": [1, 2, 3], "beta": [0.5, 1.0]})
    crop.grow(verbosity=0)
    # a crop's dims are sorted by name, as xyzpy sows them
    reference = runner.run_combos({"beta": [0.5, 1.0], "n": [1, 2, 3]}, verbosity=0)
    xyz.save_ds(reference, tmp_path / "reference.h5")
    shutil.copytree(crop.location, tmp_path / "laptop" / ".xyz-ws")
    code = (
        "import sys, xyzfarm as xyz\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('wsmodel'):\n    sys.exit('user code importable')\n"
        "ds = xyz.Crop(name='ws', parent_dir=sys.argv[1]).reap()\n"
        "xyz.save_ds(ds, sys.argv[2])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(xyz.__path__[0].rsplit("/", 1)[0])}
    subprocess.run(
        [python, "-c", code, str(tmp_path / "laptop"), str(tmp_path / "out.h5")],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    xr.testing.assert_identical(
        without_provenance(xyz.load_ds(tmp_path / "out.h5")), xyz.load_ds(tmp_path / "reference.h5")
    )


def test_an_incomplete_crop_refuses_to_reap_unless_allowed():
    runner = xyz.Runner(lambda x: x * 1.0, "y")
    crop = runner.Crop(name="inc", batchsize=2)
    crop.sow_combos({"x": range(6)})
    crop.grow(batch_ids=[1, 3], verbosity=0)
    with pytest.raises(CropIncompleteError, match="1 of 3 batches"):
        crop.reap()
    ds = crop.reap(allow_incomplete=True)
    assert list(ds.x.values) == list(range(6))
    assert np.isnan(ds.y.sel(x=2)) and ds.y.sel(x=5) == 5.0
    assert crop.is_prepared()  # an incomplete reap keeps the crop by default


def damage_last_byte_of_log(crop):
    (log,) = crop.layout.folder("results").glob("*.log")
    raw = bytearray(log.read_bytes())
    raw[-3] ^= 0xFF
    log.write_bytes(bytes(raw))


def test_a_damaged_result_is_reported_counted_missing_and_grown_again():
    runner = xyz.Runner(lambda x: x * 1.0, "y")
    crop = runner.Crop(name="bad", batchsize=2)
    crop.sow_combos({"x": range(4)})
    crop.grow(verbosity=0)
    damage_last_byte_of_log(crop)  # the last record: batch 2
    with pytest.warns(UserWarning, match="checksum"), pytest.raises(CropIncompleteError):
        crop.reap()
    assert crop.missing_results() == (2,)
    assert "damaged" in {p.name for p in crop.layout.folder("results").iterdir()}
    crop.grow(verbosity=0)
    assert crop.reap().y.sel(x=3) == 3.0


def test_check_bad_lists_batches_with_damaged_results():
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="bad", batchsize=2)
    crop.sow_combos({"x": range(4)})
    crop.grow(verbosity=0)
    damage_last_byte_of_log(crop)
    with pytest.warns(UserWarning):
        assert crop.check_bad() == (2,)


def test_a_result_log_torn_by_a_crash_loses_only_its_last_record():
    runner = xyz.Runner(lambda x: x * 1.0, "y")
    crop = runner.Crop(name="trunc", batchsize=2)
    crop.sow_combos({"x": range(4)})
    crop.grow(verbosity=0)
    (log,) = crop.layout.folder("results").glob("*.log")
    log.write_bytes(log.read_bytes()[:-5])
    assert crop.missing_results() == (2,)
    crop.grow(verbosity=0)
    assert crop.reap().y.sel(x=3) == 3.0


def test_reaping_a_sampler_crop_appends_rows_to_its_table():
    sampler = xyz.Sampler(
        xyz.Runner(lambda x, y: x + y, "s"),
        data_name="t.pkl",
        default_combos={"x": [1, 2], "y": [10]},
    )
    crop = sampler.Crop(name="samp")
    crop.sow_samples(5)
    crop.grow(verbosity=0)
    table = crop.reap()
    assert len(table) == 5 and list(table.columns) == ["x", "y", "s"]
    assert len(xyz.load_df("t.pkl")) == 5
    assert sampler.last_df is not None and sampler.last_df.equals(table)


def test_reaping_a_harvester_crop_makes_its_new_data_the_harvesters_last_ds(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 2.0, "y"), data_name=tmp_path / "d.h5")
    h.harvest_combos({"x": [0]}, verbosity=0)
    crop = h.Crop(name="last", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    crop.reap()
    assert h.last_ds is not None and list(h.last_ds.x.values) == [1, 2]
    assert list(h.full_ds.x.values) == [0, 1, 2]


def test_cases_crops_reap_onto_the_grid_of_their_values():
    runner = xyz.Runner(lambda x, y: x * y, "p")
    crop = runner.Crop(name="cases", batchsize=2)
    crop.sow_cases(["x", "y"], [(1, 2), (3, 4), (5, 6)])
    crop.grow(verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_cases([(1, 2), (3, 4), (5, 6)], verbosity=0)
    )


def test_reap_without_a_farmer_of_a_harvester_crop_merges_into_its_file(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 2.0, "y"), data_name=tmp_path / "d.h5")
    crop = h.Crop(name="hv", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    xyz.Crop(name="hv", parent_dir=tmp_path).reap()
    assert list(xyz.load_ds(tmp_path / "d.h5").y.values) == [2.0, 4.0]


REAPER = """
import sys, xyzfarm as xyz
xyz.Crop(name="killreap", parent_dir=sys.argv[1]).reap()
"""


def test_kill_9_during_a_reap_leaves_the_old_or_the_new_file_and_reaping_again_completes(
    user_module, tmp_path, python
):
    import os
    import random
    import signal
    import sys
    import time

    folder = user_module("reapmodel", MODEL)
    import reapmodel

    runner = model_runner(reapmodel)
    old_combos = {"n": [100], "beta": [0.5]}
    new_combos = {"n": list(range(1, 41)), "beta": [0.5, 1.0, 2.0]}
    h = xyz.Harvester(runner, data_name=tmp_path / "full.h5")
    h.harvest_combos(old_combos, verbosity=0)
    old = xyz.load_ds(tmp_path / "full.h5")
    crop = h.Crop(name="killreap", parent_dir=tmp_path, batchsize=1)
    crop.sow_combos(new_combos)
    crop.grow(verbosity=0)
    expected = xr.merge(
        [old, runner.run_combos(new_combos, verbosity=0)], join="outer", compat="no_conflicts"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    # time a whole reap on a copy, then kill real ones at random points of that span
    probe = tmp_path / "probe"
    shutil.copytree(crop.location, probe / ".xyz-killreap")
    shutil.copy(tmp_path / "full.h5", probe / "full.h5")
    start = time.monotonic()
    subprocess.run([python, "-c", REAPER, str(probe)], env=env, check=True)
    span = time.monotonic() - start
    rng = random.Random(2)
    kills = 0
    # points ever later in the reap: reading, merging, writing, publishing, deleting; the
    # first two fall early enough that a reap slower or faster than the probe (a loaded
    # machine) is still killed at least twice
    for fraction in (0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0, 1.05):
        if not crop.is_prepared():
            break
        reaper = subprocess.Popen([python, "-c", REAPER, str(tmp_path)], env=env)
        time.sleep(span * fraction * rng.uniform(0.97, 1.03))
        if reaper.poll() is None:
            reaper.send_signal(signal.SIGKILL)
            kills += 1
        reaper.wait()
        on_disk = xyz.load_ds(tmp_path / "full.h5")  # always loads
        if crop.is_prepared():
            values = without_provenance(on_disk)
            assert values.identical(old) or values.identical(expected)
        else:
            xr.testing.assert_identical(without_provenance(on_disk), expected)
    if crop.is_prepared():
        crop.reap()
    xr.testing.assert_identical(without_provenance(xyz.load_ds(tmp_path / "full.h5")), expected)
    assert kills >= 2
    print(f"kill -9 during reap: {kills} kills, file always loaded, final data complete")


def test_every_reaped_case_says_where_and_how_it_was_computed_beside_the_data():
    import socket

    from xyzfarm.crop.reap import PROVENANCE

    runner = xyz.Runner(lambda x, y: x * y * 1.0, "p")
    crop = runner.Crop(name="prov", batchsize=3)
    crop.sow_combos({"x": range(4), "y": [1, 2]})
    before = np.datetime64("now")
    crop.grow(verbosity=0)
    ds = crop.reap()
    prov = runner.last_provenance
    assert prov is crop.provenance
    assert set(prov.data_vars) == set(PROVENANCE)
    assert prov.xyz_host.dims == ("x", "y")
    assert set(prov.xyz_host.values.ravel()) == {socket.gethostname()}
    assert set(prov.xyz_job.values.ravel()) == {"local"}
    assert set(prov.xyz_attempt.values.ravel()) == {1}
    assert set(prov.xyz_version.values.ravel()) == {xyz.__version__}
    assert (prov.xyz_seconds >= 0).all()
    assert (prov.xyz_start >= before - np.timedelta64(1, "s")).all()
    # plain xarray answers "which results came from that host?"
    assert int(ds.p.where(prov.xyz_host == socket.gethostname()).notnull().sum()) == 8


def test_a_reaped_runner_crop_is_identical_to_run_combos():
    runner = xyz.Runner(lambda x, y: x * y * 1.0, "p")
    crop = runner.Crop(name="same", batchsize=3)
    crop.sow_combos({"x": range(4), "y": [1, 2]})
    crop.grow(verbosity=0)
    ds = crop.reap()
    xr.testing.assert_identical(ds, runner.run_combos({"x": range(4), "y": [1, 2]}, verbosity=0))
    assert runner.last_provenance is None  # last_ds now comes from running here


def test_provenance_in_puts_the_xyz_variables_into_the_reaped_dataset():
    from xyzfarm.crop.reap import PROVENANCE

    runner = xyz.Runner(lambda x: x * 1.0, "y")
    crop = runner.Crop(name="inprov")
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    ds = crop.reap(provenance="in")
    assert set(ds.data_vars) == {"y", *PROVENANCE}
    assert runner.last_provenance is None and crop.provenance is None
    xr.testing.assert_identical(without_provenance(ds), runner.run_combos({"x": [1, 2]}))


def test_provenance_can_be_left_out():
    runner = xyz.Runner(lambda x: x * 1.0, "y")
    crop = runner.Crop(name="noprov")
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    assert list(crop.reap(provenance=False).data_vars) == ["y"]
    assert runner.last_provenance is None and crop.provenance is None


def test_an_unknown_provenance_mode_is_refused_before_anything_is_reaped():
    from xyzfarm.errors import InvalidInputError

    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="badprov")
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    with pytest.raises(InvalidInputError, match=r"provenance must be one of.*'inside'"):
        crop.reap(provenance="inside")
    assert crop.is_prepared()


def test_provenance_sits_in_the_files_provenance_group_which_plain_xarray_opens(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 1.0, "y"), data_name=tmp_path / "d.h5")
    crop = h.Crop(name="group", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2, 3]})
    crop.grow(verbosity=0)
    crop.reap()
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf") as data:
        assert list(data.data_vars) == ["y"]
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf", group="provenance") as prov:
        assert list(prov.x.values) == [1, 2, 3]
        assert prov.xyz_start.dtype.kind == "M" and prov.xyz_start.notnull().all()
        xr.testing.assert_identical(prov.load(), h.provenance)


def test_recomputing_cases_updates_their_provenance_without_a_merge_conflict(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 1.0, "y"), data_name=tmp_path / "d.h5")
    starts = []
    for combos in ({"x": [1, 2]}, {"x": [2, 3]}):
        crop = h.Crop(name="again", parent_dir=tmp_path)
        crop.sow_combos(combos)
        crop.grow(verbosity=0)
        crop.reap()
        starts.append(crop.provenance.xyz_start)
    ds = xyz.load_ds(tmp_path / "d.h5")
    assert list(ds.y.values) == [1.0, 2.0, 3.0]
    prov = xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf", group="provenance").load()
    # the latest computation of a case describes it; the others keep theirs
    assert prov.xyz_start.sel(x=1).values == starts[0].sel(x=1).values
    assert (prov.xyz_start.sel(x=[2, 3]).values == starts[1].values).all()


def test_a_reap_with_old_values_winning_keeps_the_old_description(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 1.0, "y"), data_name=tmp_path / "d.h5")
    starts = []
    for overwrite in (None, False):
        crop = h.Crop(name="old", parent_dir=tmp_path)
        crop.sow_combos({"x": [1, 2]})
        crop.grow(verbosity=0)
        crop.reap(overwrite=overwrite)
        starts.append(crop.provenance.xyz_start.values)
    assert (h.provenance.xyz_start.values == starts[0]).all()


def test_the_cli_reap_into_a_file_writes_provenance_beside_the_data(tmp_path, python):
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="cliprov", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    subprocess.run(
        [python, "-m", "xyzfarm", "reap", "cliprov", "--into", "out.h5", "--keep"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    with xr.open_dataset(tmp_path / "out.h5", engine="h5netcdf") as data:
        assert list(data.data_vars) == ["y"]
    with xr.open_dataset(tmp_path / "out.h5", engine="h5netcdf", group="provenance") as prov:
        assert set(prov.xyz_job.values) == {"local"}
    subprocess.run(
        [python, "-m", "xyzfarm", "reap", "cliprov", "--into", "in.h5", "--provenance", "in"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert "xyz_host" in xyz.load_ds(tmp_path / "in.h5").data_vars


def test_missing_only_ignores_provenance(tmp_path):
    calls = []

    def fn(x):
        calls.append(x)
        return float("nan")

    h = xyz.Harvester(xyz.Runner(fn, "y"), data_name=tmp_path / "d.h5")
    crop = h.Crop(name="nan", parent_dir=tmp_path)
    crop.sow_combos({"x": [1]})
    crop.grow(verbosity=0)
    crop.reap()
    h.harvest_combos({"x": [1]}, missing_only=True, verbosity=0)
    assert calls == [1, 1]  # all values missing: run again, whatever the provenance says
    assert h.provenance.xyz_start.notnull().all()  # and its provenance is left as it was


def test_reap_into_merges_into_any_file_whatever_the_crop_was_sown_for(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 2.0, "y"), data_name=tmp_path / "sown-for.h5")
    crop = h.Crop(name="into", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    xyz.Crop(name="into", parent_dir=tmp_path).reap(into=tmp_path / "other.h5")
    assert list(xyz.load_ds(tmp_path / "other.h5").y.values) == [2.0, 4.0]
    assert not (tmp_path / "sown-for.h5").exists() and not crop.is_prepared()


# -- every published value is proven ------------------------------------------------------


def forge_results(crop, change):
    """Rewrite every result record through ``change(batch, result) -> (batch, result) | None``.

    The records are framed as a grower frames them (valid checksums, the crop's own sowing):
    this is a forged or buggy record, not a damaged one nor one of another sowing.
    """
    from xyzfarm.folder import records

    sowing = Manifest.read(crop.layout).sowing_id
    for log in crop.layout.folder("results").glob("*.log"):
        entries = records.scan_log(log, sowing=sowing).entries
        frames = []
        for _, offset in entries:
            changed = change(*records.read_log_record(log, offset, sowing=sowing))
            if changed is not None:
                frames.append(records.log_frame(*changed, sowing=sowing))
        log.write_bytes(b"".join(frames))


def result_of(crop, batch):
    from xyzfarm.folder.results import ResultIndex

    return (
        ResultIndex(crop.layout, sowing=Manifest.read(crop.layout).sowing_id).refresh().load(batch)
    )


GRID = {"a": range(4), "b": [5, 6, 7]}


def test_a_record_claiming_another_batch_is_never_published_and_its_batch_is_grown_again():
    runner = xyz.Runner(lambda a, b: a * 10.0 + b, "p")
    crop = runner.Crop(name="forged")
    crop.sow_combos(GRID)  # 12 batches of one case
    crop.grow(batch_ids=[b for b in range(1, 13) if b != 7], verbosity=0)
    third = result_of(crop, 3)
    # batch 3's record with its batch id changed to 7 (checksum and sowing made to match)
    forge_results(crop, lambda batch, result: (batch, result))
    from xyzfarm.folder import records

    (log,) = crop.layout.folder("results").glob("*.log")
    with open(log, "ab") as f:
        f.write(records.log_frame(7, third, sowing=Manifest.read(crop.layout).sowing_id))
    assert crop.status().done == 12  # the header alone cannot tell
    with (
        pytest.warns(UserWarning, match="record of batch 7 holds"),
        pytest.raises(CropIncompleteError, match="1 of 12 batches"),
    ):
        crop.reap()
    assert crop.is_prepared()  # nothing published, nothing deleted
    assert crop.missing_results() == (7,) and crop.status().damaged_ids == (7,)
    crop.grow(verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(GRID, verbosity=0)
    )


def shift_indices(result):
    return {**result, "indices": [i + 1 for i in result["indices"]]}


def drop_last_output(result):
    return {**result, "outputs": result["outputs"][:-1]}


def stray_provenance(result):
    return {**result, "prov": [([0, 1, 99], *seg[1:]) for seg in result["prov"]]}


def no_indices(result):
    return {"outputs": result["outputs"]}


@pytest.mark.parametrize(
    ("forgery", "says"),
    [
        (shift_indices, r"holds 3 cases \[\d+, \d+, \d+\], but batch 2 was sown"),
        (drop_last_output, "holds 2 outputs for its 3 cases"),
        (stray_provenance, "outside its 3 cases"),
        (no_indices, "not a batch result"),
    ],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_a_record_that_does_not_fit_its_batch_counts_as_missing(forgery, says, shuffle):
    runner = xyz.Runner(lambda a, b: a * 10.0 + b, "p")
    crop = runner.Crop(name="misfit", batchsize=3)
    crop.sow_combos(GRID, shuffle=shuffle)
    crop.grow(verbosity=0)
    forge_results(crop, lambda batch, result: (batch, forgery(result) if batch == 2 else result))
    with pytest.warns(UserWarning, match=says), pytest.raises(CropIncompleteError):
        crop.reap()
    assert crop.is_prepared() and crop.missing_results() == (2,)
    with pytest.warns(UserWarning, match="kept"):  # allow_incomplete never publishes it either
        ds = crop.reap(allow_incomplete=True, clean_up=True, provenance=False)
    assert int(ds.p.isnull().sum()) == 3 and crop.is_prepared()
    crop.grow(verbosity=0)
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos(GRID, verbosity=0)
    )


def test_a_case_plan_whose_batches_overlap_is_refused_not_published_with_holes():
    from xyzfarm.folder import records

    runner = xyz.Runner(lambda a, b: a * 10.0 + b, "p")
    crop = runner.Crop(name="overlap", batchsize=3)
    crop.sow_combos(GRID, shuffle=True)
    layout = crop.layout
    sowing = Manifest.read(layout).sowing_id
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=sowing)
    specs = [reader.get(i) for i in range(4)]
    reader.close()
    # batch 2 now repeats batch 1's cases (checksums valid, of the crop's own sowing)
    specs[1] = specs[0]
    records.write_indexed(layout.cases, layout.cases_index, iter(specs), sowing=sowing)
    crop.grow(verbosity=0)
    with pytest.raises(xyz.errors.CropFormatError, match=r"cases\.bin"):
        crop.reap()
    assert crop.is_prepared()


FAILING = {"a": None}


def fails_on_one_case(a, b):
    if a == FAILING["a"] and b == FAILING["b"]:
        raise ValueError("this case fails")
    return a * 10.0 + b


@pytest.mark.parametrize("kind", ["combos", "shuffled", "cases"])
def test_allow_incomplete_keeps_the_finished_cases_of_a_failed_batch(kind):
    from xyzfarm.folder import records

    runner = xyz.Runner(fails_on_one_case, "p")
    crop = runner.Crop(name=f"part-{kind}", batchsize=4)
    cases = [(a, b) for a in range(4) for b in (5, 6, 7)]
    if kind == "cases":
        crop.sow_cases(["a", "b"], cases)
    else:
        crop.sow_combos(GRID, shuffle=kind == "shuffled")
    # the last case of batch 2 fails: the three before it finish and are checkpointed
    reader = records.IndexedReader(
        crop.layout.cases, crop.layout.cases_index, sowing=Manifest.read(crop.layout).sowing_id
    )
    FAILING["a"], FAILING["b"] = reader.get(1)["rows"][-1]
    reader.close()
    crop.grow(verbosity=0, replace_fn=True)  # FAILING was set after sowing: refused otherwise
    assert crop.status().failed == 1
    ds = crop.reap(allow_incomplete=True)
    expected = runner.run_cases([c for c in cases if c != (FAILING["a"], FAILING["b"])])
    expected = expected.reindex_like(ds)
    xr.testing.assert_identical(ds, expected)
    assert int(ds.p.isnull().sum()) == 1
    assert int(crop.provenance.xyz_host.notnull().sum()) == 11  # their provenance is kept too
    assert crop.is_prepared()  # batch 2 can still be grown


def test_an_incomplete_reap_keeps_the_crop_even_when_asked_to_clean_up():
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="keep", batchsize=2)
    crop.sow_combos({"x": range(4)})
    crop.grow(batch_ids=[1], verbosity=0)
    with pytest.warns(UserWarning, match=r"kept.*delete_all"):
        crop.reap(allow_incomplete=True, clean_up=True)
    assert crop.is_prepared() and crop.missing_results() == (2,)
    crop.grow(verbosity=0)
    assert list(crop.reap().y.values) == [0.0, 1.0, 2.0, 3.0]
    assert not crop.is_prepared()


def test_a_reap_whose_merge_fails_deletes_nothing(tmp_path):
    from xyzfarm.errors import MergeConflictError

    h = xyz.Harvester(xyz.Runner(lambda x: x * 2.0, "y"), data_name=tmp_path / "d.h5")
    xyz.save_ds(xr.Dataset({"y": ("x", [0.0, -1.0])}, coords={"x": [1, 2]}), tmp_path / "d.h5")
    crop = h.Crop(name="conflict", parent_dir=tmp_path)
    crop.sow_combos({"x": [1, 2]})
    crop.grow(verbosity=0)
    with pytest.raises(MergeConflictError):
        crop.reap()
    assert crop.is_prepared() and crop.status().done == 2
    crop.reap(overwrite=True, provenance=False)
    assert list(xyz.load_ds(tmp_path / "d.h5").y.values) == [2.0, 4.0]
    assert not crop.is_prepared()


def test_check_bad_finds_records_that_do_not_fit_their_batch_so_grow_regrows_them():
    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="misfit", batchsize=2)
    crop.sow_combos({"x": range(6)})
    crop.grow(verbosity=0)
    forge_results(crop, lambda b, r: (b, shift_indices(r) if b == 3 else r))
    with pytest.warns(UserWarning, match="batch 3 holds 2 cases"):
        assert crop.check_bad() == (3,)
    assert crop.missing_results() == (3,)
    crop.grow_missing(verbosity=0)
    assert list(crop.reap().y.values) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
