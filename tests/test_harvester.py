from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import (
    ComboValueError,
    CoordinateTypeError,
    DimensionMismatchError,
    DuplicateValueError,
    LocationError,
    MergeConflictError,
    OutputMismatchError,
    UnknownArgumentError,
    UnsavableValueError,
)


def model_fn(n, beta, seed=0):
    return n * beta + seed, np.arange(3) * beta


def make_runner(fn=model_fn):
    return xyz.Runner(fn, ["energy", "gap"], var_dims={"gap": ["k"]}, var_coords={"k": range(3)})


def test_harvest_combos_writes_an_h5netcdf_file_plain_xarray_can_open():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1, 2], "beta": [0.5, 1.0]}, verbosity=0)
    with xr.open_dataset("model.h5", engine="h5netcdf") as ds:
        assert ds.energy.sel(n=2, beta=1.0).item() == 2.0
        assert ds.gap.dims == ("n", "beta", "k")


def test_successive_harvests_accumulate_in_the_file():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1], "beta": [0.5]}, verbosity=0)
    h.harvest_combos({"n": [2], "beta": [1.0]}, verbosity=0)
    ds = xyz.load_ds("model.h5")
    assert dict(ds.sizes) == {"n": 2, "beta": 2, "k": 3}
    assert h.last_ds.sizes["n"] == 1
    assert h.full_ds.sizes["n"] == 2


def test_a_data_name_without_extension_is_written_and_read_back_under_that_name():
    xyz.Harvester(make_runner(), data_name="results").harvest_combos(
        {"n": [1], "beta": [1.0]}, verbosity=0
    )
    # a new harvester (a new session) must add to the file, not replace it (xyzpy loses data here)
    xyz.Harvester(make_runner(), data_name="results").harvest_combos(
        {"n": [2], "beta": [1.0]}, verbosity=0
    )
    assert not Path("results.h5").exists()
    assert list(xyz.load_ds("results").n.values) == [1, 2]


def test_each_save_keeps_the_previous_file_as_a_backup():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    h.harvest_combos({"n": [2], "beta": [1.0]}, verbosity=0)
    assert list(xyz.load_ds("model.h5.bak").n.values) == [1]


def test_conflicting_results_raise_and_leave_the_file_unchanged():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    before = Path("model.h5").read_bytes()
    h2 = xyz.Harvester(make_runner(lambda n, beta: (99.0, np.zeros(3))), data_name="model.h5")
    with pytest.raises(MergeConflictError):
        h2.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    assert Path("model.h5").read_bytes() == before
    h2.harvest_combos({"n": [1], "beta": [1.0]}, overwrite=True, verbosity=0)
    assert xyz.load_ds("model.h5").energy.item() == 99.0


@pytest.mark.parametrize(
    ("combos", "error"),
    [
        ({"n": [1], "betta": [1.0]}, UnknownArgumentError),
        ({"n": 1, "beta": [1.0]}, ComboValueError),
        ({"n": [1, 1], "beta": [1.0]}, DuplicateValueError),
    ],
)
def test_bad_input_raises_a_clear_error_and_writes_nothing(combos, error):
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    with pytest.raises(error):
        h.harvest_combos(combos, verbosity=0)
    assert os.listdir(".") == []


def test_outputs_not_matching_var_dims_raise_and_write_nothing():
    h = xyz.Harvester(make_runner(lambda n, beta: (1.0, np.zeros(4))), data_name="model.h5")
    with pytest.raises(OutputMismatchError, match="gap"):
        h.harvest_combos({"n": [1, 2], "beta": [1.0]}, verbosity=0)
    assert not Path("model.h5").exists()


def test_missing_only_runs_just_the_cases_the_file_lacks():
    calls = []

    def fn(n, beta):
        calls.append((n, beta))
        return n * beta, np.zeros(3)

    h = xyz.Harvester(make_runner(fn), data_name="model.h5")
    h.harvest_combos({"n": [1, 2], "beta": [1.0]}, verbosity=0)
    calls.clear()
    h.harvest_combos({"n": [1, 2, 3], "beta": [1.0, 2.0]}, missing_only=True, verbosity=0)
    assert sorted(calls) == [(1, 2.0), (2, 2.0), (3, 1.0), (3, 2.0)]
    calls.clear()
    h.harvest_combos({"n": [1, 2, 3], "beta": [1.0, 2.0]}, missing_only=True, verbosity=0)
    assert calls == []
    assert xyz.load_ds("model.h5").energy.notnull().all()


def test_missing_only_does_not_rerun_a_case_whose_output_is_partly_nan():
    calls = []

    def fn(n, beta):
        calls.append(n)
        return np.nan, np.array([np.nan, 1.0, np.nan])

    h = xyz.Harvester(make_runner(fn), data_name="model.h5")
    h.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    h.harvest_combos({"n": [1], "beta": [1.0]}, missing_only=True, verbosity=0)
    assert calls == [1]


def test_ellipsis_means_every_value_already_in_the_file():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1, 2], "beta": [1.0]}, verbosity=0)
    h.harvest_combos({"n": ..., "beta": [2.0]}, verbosity=0)
    assert list(xyz.load_ds("model.h5").beta.values) == [1.0, 2.0]
    assert xyz.load_ds("model.h5").energy.notnull().all()


def test_harvest_cases_merges_explicit_cases():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_cases([{"n": 1, "beta": 1.0}, {"n": 2, "beta": 3.0}], verbosity=0)
    ds = xyz.load_ds("model.h5")
    assert ds.energy.sel(n=2, beta=3.0).item() == 6.0
    assert np.isnan(ds.energy.sel(n=1, beta=3.0).item())


def test_an_in_memory_harvester_merges_without_a_file():
    h = xyz.Harvester(make_runner())
    h.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    h.harvest_combos({"n": [2], "beta": [1.0]}, verbosity=0)
    assert h.full_ds.sizes["n"] == 2
    assert os.listdir(".") == []


def test_expand_dims_and_drop_sel_are_synced_to_disk():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1, 2], "beta": [1.0]}, verbosity=0)
    h.drop_sel(n=2)
    assert list(xyz.load_ds("model.h5").n.values) == [1]
    h.expand_dims("seed", 0)
    assert xyz.load_ds("model.h5").energy.dims[0] == "seed"


def test_delete_ds_can_keep_a_time_stamped_copy():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1], "beta": [1.0]}, verbosity=0)
    h.delete_ds(backup=True)
    assert not Path("model.h5").exists()
    assert any(p.name.startswith("model.h5.BAK-") for p in Path(".").iterdir())


def test_repr_names_the_file():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    assert "model.h5" in repr(h) and "<xyzfarm.Harvester>" in repr(h)


HARVEST_ONE = """
import sys, numpy as np, xyzfarm as xyz
i = int(sys.argv[1])
r = xyz.Runner(lambda n, beta: (n * beta, np.arange(3) * beta), ["energy", "gap"],
               var_dims={"gap": ["k"]}, var_coords={"k": range(3)})
h = xyz.Harvester(r, data_name="shared.h5")
for j in range(3):
    h.harvest_combos({"n": [i], "beta": [float(j)]}, verbosity=0)
"""


def test_eight_processes_harvesting_into_one_file_lose_nothing(python, python_env):
    procs = [
        subprocess.Popen([python, "-c", HARVEST_ONE, str(i)], env=python_env) for i in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    ds = xyz.load_ds("shared.h5")
    assert sorted(ds.n.values) == list(range(8))
    assert ds.energy.notnull().all()
    expected = np.outer(np.arange(8), np.arange(3.0))
    np.testing.assert_array_equal(ds.energy.sel(n=range(8), beta=[0.0, 1.0, 2.0]).values, expected)


SAVE_FOREVER = """
import numpy as np, xarray as xr, xyzfarm as xyz
i = 0
while True:
    i += 1
    ds = xr.Dataset({"v": ("x", np.full(200_000, float(i)))}, coords={"x": np.arange(200_000)})
    xyz.save_ds(ds, "data.h5")
    print(i, flush=True)
"""


def test_kill_9_during_saves_always_leaves_a_complete_file(python, python_env):
    rng = random.Random(0)
    proc = subprocess.Popen([python, "-c", SAVE_FOREVER], env=python_env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        proc.stdout.readline()  # one complete save exists
        for _ in range(5):
            time.sleep(rng.uniform(0.01, 0.2))
            ds = xyz.load_ds("data.h5")
            values = np.unique(ds.v.values)
            assert len(values) == 1 and ds.sizes["x"] == 200_000
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ds = xyz.load_ds("data.h5")  # after the kill: still old-or-new, never half
    assert len(np.unique(ds.v.values)) == 1
    leftovers = [p.name for p in Path(".").iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 1  # at most the one temp file of the killed save, never published


# -- lazy (dask) datasets: harvest, merge and reap without loading everything -----------------


def chunk_model(n, beta):
    return n * beta, np.arange(4) * beta


def chunk_runner():
    return xyz.Runner(chunk_model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(4)})


def test_a_chunked_harvester_merges_lazily_and_writes_the_same_file():
    pytest.importorskip("dask")
    h = xyz.Harvester(chunk_runner(), data_name="lazy.h5", chunks={"n": 5})
    h.harvest_combos({"n": range(20), "beta": [0.5, 1.0]}, verbosity=0)
    h.harvest_combos({"n": range(20, 40), "beta": [0.5, 1.0]}, verbosity=0)
    assert h.full_ds.e.chunks is not None  # still lazy after merging
    expected = chunk_runner().run_combos({"n": range(40), "beta": [0.5, 1.0]}, verbosity=0)
    xr.testing.assert_equal(xyz.load_ds("lazy.h5"), expected)


def test_a_crop_reaps_into_a_chunked_harvester():
    pytest.importorskip("dask")
    from xyzfarm.crop.reap import without_provenance

    h = xyz.Harvester(chunk_runner(), data_name="lazy.h5", chunks={"n": 4})
    h.harvest_combos({"n": range(8), "beta": [1.0]}, verbosity=0)
    crop = h.Crop(name="lazy", batchsize=4)
    crop.sow_combos({"n": range(8, 16), "beta": [1.0]})
    crop.grow(verbosity=0)
    crop.reap()
    on_disk = without_provenance(xyz.load_ds("lazy.h5"))
    xr.testing.assert_equal(
        on_disk, chunk_runner().run_combos({"n": range(16), "beta": [1.0]}, verbosity=0)
    )


DISK_FULL_HARVEST = """
import os, resource, signal, sys
import numpy as np
import xyzfarm as xyz
from xyzfarm.errors import DataFileWriteError
os.chdir(sys.argv[1])
def noise(x):
    return np.random.default_rng(x).random(50_000)
runner = xyz.Runner(noise, "v", var_dims={"v": ["i"]}, var_coords={"i": range(50_000)})
harvester = xyz.Harvester(runner, data_name="data.h5")
harvester.harvest_combos({"x": [0]}, verbosity=0)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
for attempt in range(2):  # the user retries before freeing space
    try:
        harvester.harvest_combos({"x": range(1, 8)}, verbosity=0)
    except DataFileWriteError as exc:
        print("ERROR", exc)
import gc
gc.collect()
print(xyz.load_ds("data.h5").x.values.tolist(), sorted(os.listdir(".")))
print("alive")
"""


def test_a_full_disk_while_harvesting_keeps_the_file_and_the_process_and_leaves_no_temp_files(
    tmp_path, python, python_env
):
    out = subprocess.run(
        [python, "-c", DISK_FULL_HARVEST, str(tmp_path)],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]  # was -11: HDF5 crashed the interpreter
    assert out.stdout.count("could not write the data file 'data.h5' (File too large)") == 2
    # the old file intact; a retry left no temporary copy of its backup either
    assert "[0] ['data.h5', 'data.h5.bak']" in out.stdout
    assert out.stdout.rstrip().endswith("alive")


def test_set_valued_outputs_are_refused_naming_the_variable_before_the_file_is_touched():
    calls = []

    def fn(x):
        calls.append(x)
        return {x}

    h = xyz.Harvester(xyz.Runner(fn, "d"), data_name="data.h5")
    with pytest.raises(UnsavableValueError, match=r"'d' holds a value of type set \(\{1\}"):
        h.harvest_combos({"x": [1, 2]}, verbosity=0)
    assert not Path("data.h5").exists() and not Path("data.h5.lock").exists()


def test_a_data_name_where_no_file_can_be_created_fails_before_computing():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    for data_name in ("/proc/xyz-data.h5", "afile/data.h5"):
        Path("afile").write_text("")
        h = xyz.Harvester(xyz.Runner(fn, "y"), data_name=data_name)
        with pytest.raises(LocationError, match="cannot create files in"):
            h.harvest_combos({"x": [1]}, verbosity=0)
        with pytest.raises(LocationError, match=str(Path(data_name).parent)):
            h.harvest_cases([{"x": 1}], verbosity=0)
        with pytest.raises(LocationError):
            h.harvest_combos({"x": [1]}, missing_only=True, verbosity=0)
    assert calls == []


def test_harvesting_an_output_without_a_swept_dimension_of_the_file_is_refused():
    h = xyz.Harvester(make_runner(), data_name="model.h5")
    h.harvest_combos({"n": [1, 2], "beta": [0.5]}, verbosity=0)
    flat = xyz.Harvester(make_runner(lambda n: (n * 1.0, np.zeros(3))), data_name="model.h5")
    with pytest.raises(DimensionMismatchError, match=r"'energy'.*\('n',\).*\('n', 'beta'\)"):
        flat.harvest_combos({"n": [3]}, verbosity=0)
    assert xyz.load_ds("model.h5").n.values.tolist() == [1, 2]


def test_harvesting_int_coordinates_into_a_file_of_strings_is_refused():
    runner = xyz.Runner(lambda x: 1.0, "y")
    xyz.Harvester(runner, data_name="data.h5").harvest_combos({"x": ["a", "b"]}, verbosity=0)
    h = xyz.Harvester(runner, data_name="data.h5")
    with pytest.raises(CoordinateTypeError, match=r"'x' holds numeric values \(int64\)"):
        h.harvest_combos({"x": [1]}, verbosity=0)
    assert xyz.load_ds("data.h5").x.values.tolist() == ["a", "b"]


def reaped_into(h, combos, name="p", **reap):
    crop = h.Crop(name=name, parent_dir=Path(h.data_name).parent if h.data_name else None)
    crop.sow_combos(combos)
    crop.grow(verbosity=0)
    crop.reap(**reap)
    return crop


def read_group(path):
    with xr.open_dataset(path, engine="h5netcdf", group="provenance") as prov:
        return prov.load()


def test_a_reaped_crop_leaves_full_ds_identical_to_harvesting_and_provenance_beside(tmp_path):
    runner = xyz.Runner(lambda x, y: x * y * 1.0, "p")
    h = xyz.Harvester(runner, data_name=tmp_path / "crop.h5")
    reaped_into(h, {"x": [1, 2], "y": [3, 4]})
    direct = xyz.Harvester(runner, data_name=tmp_path / "direct.h5")
    direct.harvest_combos({"x": [1, 2], "y": [3, 4]}, verbosity=0)
    xr.testing.assert_identical(h.full_ds, direct.full_ds)
    xr.testing.assert_identical(xyz.load_ds(tmp_path / "crop.h5"), direct.full_ds)
    assert direct.provenance is None  # cases run here have none
    xr.testing.assert_identical(h.provenance, read_group(tmp_path / "crop.h5"))
    assert h.provenance.xyz_host.dims == ("x", "y")


def test_provenance_is_kept_through_harvests_saves_and_rewrites(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda x: x * 1.0, "y"), data_name=tmp_path / "d.h5")
    reaped_into(h, {"x": [1, 2]})
    described = read_group(tmp_path / "d.h5")
    h.harvest_combos({"x": [3]}, verbosity=0)
    xr.testing.assert_identical(read_group(tmp_path / "d.h5"), described)
    h.save_full_ds()
    xr.testing.assert_identical(read_group(tmp_path / "d.h5"), described)
    h.drop_sel(x=[3])
    xr.testing.assert_identical(read_group(tmp_path / "d.h5"), described)
    h.drop_sel(x=[2])
    assert list(read_group(tmp_path / "d.h5").x.values) == [1]
    h.expand_dims("run", 0)
    assert read_group(tmp_path / "d.h5").xyz_start.dims == ("run", "x")
    # a fresh Harvester of the file finds it there
    again = xyz.Harvester(h.runner, data_name=tmp_path / "d.h5")
    assert again.provenance.xyz_host.sizes == {"run": 1, "x": 1}


def test_an_in_place_reap_writes_the_provenance_in_place_too(tmp_path):
    runner = xyz.Runner(lambda x: x * 1.0, "y")
    reaped_into(xyz.Harvester(runner, data_name=tmp_path / "d.h5"), {"x": [1, 2, 3]})
    inode = os.stat(tmp_path / "d.h5").st_ino
    h = xyz.Harvester(runner, data_name=tmp_path / "d.h5", in_place=True)
    crop = reaped_into(h, {"x": [2]})
    assert os.stat(tmp_path / "d.h5").st_ino == inode  # written in place, not replaced
    prov = read_group(tmp_path / "d.h5")
    assert prov.xyz_start.sel(x=2).values == crop.provenance.xyz_start.sel(x=2).values
    assert prov.xyz_start.notnull().all()
    # new coordinates do not fit in place: both take the atomic path, together
    crop = reaped_into(h, {"x": [4]})
    assert os.stat(tmp_path / "d.h5").st_ino != inode
    assert list(read_group(tmp_path / "d.h5").x.values) == [1, 2, 3, 4]


def test_an_in_memory_harvester_keeps_provenance_in_memory():
    h = xyz.Harvester(xyz.Runner(lambda x: x * 1.0, "y"))
    reaped_into(h, {"x": [1]})
    reaped_into(h, {"x": [2]})
    assert list(h.full_ds.data_vars) == ["y"]
    assert list(h.provenance.x.values) == [1, 2] and h.provenance.xyz_start.notnull().all()


def test_a_bool_output_with_missing_cases_is_saved_as_one_zero_and_nan(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda a, b: a % 2 == 0, "even"), data_name=tmp_path / "d.h5")
    h.harvest_cases([{"a": 1, "b": 20}, {"a": 2, "b": 30}], verbosity=0)
    assert h.full_ds["even"].dtype == object  # in memory, as xyzpy (xarray's promotion)
    on_disk = xyz.load_ds(tmp_path / "d.h5")
    assert on_disk["even"].values.tolist()[0][0] == 0.0 and on_disk["even"].values[1, 1] == 1.0
    assert on_disk["even"].isnull().values.tolist() == [[False, True], [True, False]]
    h.harvest_cases([{"a": 1, "b": 30}], verbosity=0)  # merging into the saved file works
    assert xyz.load_ds(tmp_path / "d.h5")["even"].sel(a=1, b=30).item() == 0.0
